"""``lcml sonify``: a star's light curve written as a playable WAV file."""

import wave

import numpy as np
import pyarrow.parquet as pq
import pytest

from lcml.data.simulate.lightcurves import simulate_kepler

from .test_predict import lcml


@pytest.fixture(scope="module")
def stars(tmp_path_factory):
    path = tmp_path_factory.mktemp("sonify") / "stars.parquet"
    pq.write_table(simulate_kepler(3, seed=1, duration_days=20).lightcurves, path)
    return path


def test_sonify_writes_a_playable_wav_of_the_chosen_star(stars, tmp_path):
    second = pq.read_table(stars).column("object_id")[1].as_py()
    out = tmp_path / "star.wav"
    proc = lcml("sonify", str(stars), "--object-id", second, "--output", str(out), "--seconds", "3")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"{second}: P = ") and str(out) in proc.stdout
    with wave.open(str(out)) as played:
        assert (played.getnchannels(), played.getsampwidth(), played.getframerate()) == (1, 2, 8000)
        assert played.getnframes() == 3 * 8000
        pcm = np.frombuffer(played.readframes(played.getnframes()), "<i2")
    assert np.abs(pcm).max() > 3000  # audible, not silence


@pytest.mark.parametrize("args, message", [
    (["--object-id", "nobody"], "no light curve with object_id 'nobody'"),
    (["--seconds", "0"], "--seconds must be positive"),
])
def test_sonify_bad_requests_are_one_line(stars, tmp_path, args, message):
    proc = lcml("sonify", str(stars), "--output", str(tmp_path / "x.wav"), *args)
    assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = lcml("sonify", str(stars), "--output", str(tmp_path))
    assert proc.returncode == 1 and "is a folder" in proc.stderr
