"""``lcml sonify``: write the sound the ``lc_audio`` family hears, so a person can listen to a star.

The waveform is :func:`lcml.features.views.sonify` of the curve's fold at its found period, the exact
view the model's log-mel spectrogram is made from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lcml.config import FeatureParams
from lcml.errors import InputError


@dataclass
class Sonified:
    """What was written: the star, its found period (days; 0 if unknown), seconds of sound, the file."""

    object_id: str
    period_days: float
    seconds: float
    path: Path

    def summary(self) -> str:
        period = f"P = {self.period_days:.5g} d" if self.period_days > 0 else "period unknown"
        return f"{self.object_id}: {period}, {self.seconds:g} s of sound -> {self.path}"


def sonify_file(source: str | Path, output: Path, features: FeatureParams, *, object_id: str | None = None,
                seconds: float = 10.0) -> Sonified:
    """Sonify one curve of ``source`` (any input of ``lcml predict``; the first curve unless ``object_id``).

    Raises
    ------
    InputError
        Unreadable input, an ``object_id`` it does not hold, a curve that cannot be folded, or an
        ``output`` that is a folder or lies in a missing one.
    """
    from lcml.features.extract import featurize
    from lcml.features.views import SAMPLE_RATE, period_days, sonify, write_wav
    from lcml.serving.inputs import iter_input

    output = Path(output)
    if output.is_dir():
        raise InputError(f"--output {output} is a folder; name a .wav file")
    if not output.parent.is_dir():
        raise InputError(f"--output {output}: folder {output.parent} does not exist")
    if not seconds > 0:
        raise InputError(f"--seconds must be positive, got {seconds}")
    row = None
    for frame in iter_input(source, batch_size=1024):
        hits = frame if object_id is None else frame[frame["object_id"].astype(str) == str(object_id)]
        if len(hits):
            row = hits.iloc[0]
            break
    if row is None:
        raise InputError(f"{source}: no light curve with object_id {object_id!r}")
    try:
        folded, aux = featurize(row["time"], row["flux"], row["flux_err"], features)
    except ValueError as exc:
        raise InputError(f"{row['object_id']}: {exc}") from None
    write_wav(output, sonify(folded, aux, seconds=seconds), SAMPLE_RATE)
    return Sonified(str(row["object_id"]), period_days(aux), seconds, output)
