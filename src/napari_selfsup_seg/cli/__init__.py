"""The ``napari-selfsup-seg`` command line: one module per subcommand."""
