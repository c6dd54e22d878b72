"""One meaning of DFCVAE_OFFLINE for data sets and weights alike, and one first-line helper."""

from __future__ import annotations

from urllib.error import URLError

import pytest

from dfcvae.data import DataError
from dfcvae.data.download import download
from dfcvae.errors import ConfigError, DFCVAEError, WeightsError, first_line
from dfcvae.loss_networks.weights import WeightSource, download_weights
from dfcvae.offline import is_offline


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_one_true_or_yes_mean_offline(monkeypatch, value):
    monkeypatch.setenv("DFCVAE_OFFLINE", value)
    assert is_offline()


@pytest.mark.parametrize("value", [None, "", "0", "false", "No", "off"])
def test_unset_empty_zero_false_or_no_mean_online(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("DFCVAE_OFFLINE", raising=False)
    else:
        monkeypatch.setenv("DFCVAE_OFFLINE", value)
    assert not is_offline()


def test_an_unknown_value_is_one_line_naming_the_variable(monkeypatch):
    monkeypatch.setenv("DFCVAE_OFFLINE", "maybe")
    with pytest.raises(ConfigError, match=r"DFCVAE_OFFLINE='maybe' .*set it to 1 .* or 0") as error:
        is_offline()
    assert "\n" not in str(error.value)


def test_zero_lets_data_and_weights_try_the_network_alike(monkeypatch, tmp_path):
    """DFCVAE_OFFLINE=0 was online for data sets but offline for weights: online for both."""
    monkeypatch.setenv("DFCVAE_OFFLINE", "0")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    tried = []

    def no_network():
        tried.append("data")
        raise URLError("[Errno -3] Temporary failure in name resolution")

    with pytest.raises(DataError, match=r"could not download toy-set \(.*name resolution"):
        download("toy-set", no_network, fix="put it in DIR")
    source = WeightSource("absent.pth", (tmp_path / "absent.pth").as_uri())
    with pytest.raises(WeightsError, match=r"cannot download .*absent.pth"):
        download_weights(source)
    assert tried == ["data"]


def test_one_forbids_data_and_weights_downloads_alike(monkeypatch, tmp_path):
    monkeypatch.setenv("DFCVAE_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def never():
        raise AssertionError("downloaded while offline")

    with pytest.raises(DataError, match=r"toy-set .*DFCVAE_OFFLINE forbids downloads; put it"):
        download("toy-set", never, fix="put it in DIR")
    with pytest.raises(WeightsError, match=r"no local absent.pth and DFCVAE_OFFLINE is set"):
        download_weights(WeightSource("absent.pth", "http://example.invalid/absent.pth"))


def test_first_line_skips_blank_lines_and_cuts_long_ones():
    assert first_line(RuntimeError("\n  first reason  \nadvice\nmore advice")) == "first reason"
    assert first_line(ValueError("x" * 300)) == "x" * 200
    assert first_line(ValueError("abcdef"), limit=3) == "abc"


def test_first_line_of_an_error_without_a_message_is_its_type():
    assert first_line(TimeoutError()) == "TimeoutError"
    assert first_line(OSError("   \n ")) == "OSError"


def test_data_errors_are_dfcvae_errors():
    error = DataError("fashion-mnist: missing")
    assert isinstance(error, DFCVAEError) and isinstance(error, ValueError)
