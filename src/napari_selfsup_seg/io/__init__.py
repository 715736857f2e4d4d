"""Reading and writing images: TIFF/OME-TIFF with axes, channels and pixel sizes, lazy access
to images larger than memory, size guards, atomic writes that never leave a half-written file,
checks that an output never overwrites an input, and the default project folders.

Lowest layer of the pipeline; imports nothing else from the package except errors and configs.
"""
