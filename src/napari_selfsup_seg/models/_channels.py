"""Which channels of an input image a model reads: by override, by name, or by index.

A model records the indices of the source channels it was trained on
(``ModelBundleConfig.input_channels``) and, when the source file named them, their names
(``input_channel_names``). Files that name their channels are matched by name, so a model trained
on the ``DAPI`` channel finds it wherever it sits; other inputs are matched by index.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._errors import InputError

if TYPE_CHECKING:
    from .._config import ModelBundleConfig
    from ._factory import LoadedModel


def model_channels(
    model: LoadedModel,
    n_channels: int,
    channel_names: Sequence[str] = (),
    name: str = "image",
    override: Sequence[int] | None = None,
) -> list[int] | None:
    """Which channels of an input the model reads.

    Order of precedence: ``override``; the model's channel names when both the model and the
    file name their channels and every name is found; the model's channel indices when they
    exist in the file; all channels when the model records no index and the file has exactly as
    many channels as the network takes (and does not name them differently from the model).

    Parameters
    ----------
    model : LoadedModel
    n_channels : int
        Channels of the input.
    channel_names : sequence of str
        The input's channel names (empty when the file has none).
    name : str
        The file, for error messages.
    override : sequence of int, optional
        Channel indices chosen by the user instead of the model's.

    Returns
    -------
    list of int or None
        Channel indices to take, or ``None`` to use the input as it is.

    Raises
    ------
    InputError
        One line naming the file: a channel out of range, or no way to pick the channels.
    """
    n_in = model.config.model.in_channels
    c = n_channels
    if override is not None:
        chans = list(override)
        if len(chans) != n_in:
            raise InputError(
                f"{name}: model takes {n_in} channel(s) but {len(chans)} were chosen ({chans})"
            )
        bad = [ch for ch in chans if not -c <= ch < c]
        if bad:
            raise InputError(f"{name}: chosen channel(s) {bad} but the image has {c} channel(s)")
        return chans
    recorded = model.config.input_channels
    names = model.config.input_channel_names
    file_names = list(channel_names or [])
    named = len(file_names) == c
    if names and named and all(nm in file_names for nm in names):
        return [file_names.index(nm) for nm in names]
    if recorded is not None and all(-c <= ch < c for ch in recorded):
        return None if c == n_in and list(recorded) == list(range(c)) else list(recorded)
    if recorded is None and c == n_in and not (names and named):
        return None
    if recorded is None and not names:
        raise InputError(
            f"{name}: model takes {n_in} channel(s) but the image has {c} and the model does "
            "not record which to use (choose the input channel)"
        )
    has = f"channels {', '.join(file_names)}" if named else f"{c} channel(s)"
    raise InputError(
        f"{name}: model reads {describe_channels(model.config)} but the image has {has}"
    )


def describe_channels(config: ModelBundleConfig) -> str | None:
    """``"channel 1 (DAPI)"``, ``"channels 0, 1"``...: what a model reads, or ``None``.

    ``None`` when the model records neither indices nor names (it reads single-channel images,
    or every channel of images with exactly its number of channels).
    """
    chans = config.input_channels
    names = config.input_channel_names
    if chans is not None:
        n = len(chans)
    elif names is not None:
        n = len(names)
    else:
        return None
    items = []
    for i in range(n):
        ch = chans[i] if chans is not None else None
        nm = names[i] if names is not None else None
        items.append(f"{ch} ({nm})" if ch is not None and nm else str(ch if ch is not None else nm))
    return ("channel " if n == 1 else "channels ") + ", ".join(items)


def describe_seeds(config: ModelBundleConfig) -> str | None:
    """``"grows cells from the nuclei of channel 0 (DAPI)"``, or ``None`` without a seed channel.

    The channel is the source file's when the model records it, else the network input's.
    """
    k = config.seed_channel
    if k is None:
        return None
    chans, names = config.input_channels, config.input_channel_names
    what = str(chans[k]) if chans is not None and k < len(chans) else f"input {k}"
    if names is not None and k < len(names) and names[k]:
        what += f" ({names[k]})"
    return f"grows cells from the nuclei of channel {what}"
