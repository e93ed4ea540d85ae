import numpy as np
import pytest

from serumrnn.server import native  # noqa: F401  (DawDreamer before TensorFlow)


@pytest.fixture(scope="session")
def rack():
    from serumrnn.server.rack import OpenRack

    return OpenRack()


@pytest.fixture(scope="session")
def phaser_target(rack):
    """The target of the phaser pair the steps leave a little short of (tests/phaser_pair.py)."""
    from phaser_pair import render_target

    return render_target(rack)


@pytest.fixture(scope="session")
def own_plugins():
    """The open rack under a profile's label: a server rendering on the producer's own
    plugins (tests/own_plugins.py)."""
    from own_plugins import OwnPlugins

    return OwnPlugins()


@pytest.fixture(scope="module")
def host():
    """The Debian test plugins in a worker process, one per test module (a module's tests
    may count the worker's starts), stopped when the module is done."""
    from serumrnn.server.rack.plugin_host import PluginHost

    h = PluginHost("debian_test")
    yield h
    h.close()


def band_energy(audio: np.ndarray, sr: int, lo: float, hi: float) -> float:
    """Energy of a clip's spectrum between lo and hi Hz (Hann-windowed)."""
    spec = np.abs(np.fft.rfft(audio * np.hanning(len(audio)))) ** 2
    f = np.fft.rfftfreq(len(audio), 1 / sr)
    return float(spec[(f >= lo) & (f < hi)].sum())


def band_gain_db(audio: np.ndarray, ref: np.ndarray, sr: int, lo: float, hi: float) -> float:
    """How much louder ``audio`` is than ``ref`` between lo and hi Hz, in dB (an EQ's boost)."""
    return 10 * float(np.log10(band_energy(audio, sr, lo, hi) / band_energy(ref, sr, lo, hi)))


def crest(audio: np.ndarray, frame: int = 441) -> float:
    """Crest factor of the 10 ms RMS envelope: peak over mean loudness, what a compressor
    flattens (a waveform's own crest also moves with phase, which says little here)."""
    f = audio[: len(audio) // frame * frame].reshape(-1, frame)
    rms = np.sqrt((f**2).mean(axis=1))
    return float(rms.max() / rms.mean())


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """Tiny data, every model of the basic group trained for one epoch, exported."""
    from serumrnn.training import recipes
    from serumrnn.training.export import export_group
    from serumrnn.training.train import train_group

    root = tmp_path_factory.mktemp("train")
    recipe = recipes.get("tiny", max_epochs=1)
    best, info = train_group(
        "basic", recipe, data_root=root / "data", runs_root=root / "runs", workers=1, verbose=0
    )
    manifest = export_group("basic", recipe, best, root / "models", data_size=info)
    return root, recipe, best, info, manifest


@pytest.fixture(scope="session")
def tiny_models(tiny_run):
    from serumrnn.server.models import load_group

    return load_group("basic", tiny_run[0] / "models")
