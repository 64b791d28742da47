"""The one offline check and the one hub error wording of every pretrained loader."""

import pytest

from reconfake.paradigms.hf_loading import OFFLINE_VARIABLES, offline_requested, resolve_model
from reconfake.paradigms.registry import BackendError


@pytest.fixture
def clean_env(monkeypatch):
    for variable in OFFLINE_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
@pytest.mark.parametrize("value, offline", [("1", True), ("true", True), ("YES", True),
                                            (" on ", True), ("0", False), ("", False),
                                            ("false", False)])
def test_offline_variables(clean_env, variable, value, offline):
    assert OFFLINE_VARIABLES == ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    clean_env.setenv(variable, value)
    assert offline_requested() is offline
    # the backend option wins over the environment either way
    assert offline_requested(local_files_only=True) is True
    assert offline_requested(local_files_only=False) is False


def test_unset_is_online(clean_env):
    assert offline_requested() is False


@pytest.mark.parametrize("variable", ["HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"])
def test_hub_loaders_share_one_error(clean_env, variable):
    """Backends, the wav2vec 2.0 and the Whisper front-ends fail offline with one wording."""
    from reconfake.detector.frontend_errors import FrontendUnavailable
    from reconfake.detector.ssl_frontend import load_wav2vec2
    from reconfake.detector.whisper_frontend import load_whisper

    clean_env.setenv(variable, "1")
    wording = (r"cannot load model 'reconfake-test/none' at revision main: running offline "
               r"\(HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE or local_files_only\), and it is not "
               r"in the local cache .*hf download reconfake-test/none")
    with pytest.raises(BackendError, match="^backend b: " + wording):
        resolve_model("b", "reconfake-test/none")
    with pytest.raises(FrontendUnavailable, match="^front-end reconfake-test/none: " + wording):
        load_wav2vec2("reconfake-test/none")
    whisper = wording.replace("reconfake-test/none", "openai/whisper-reconfake-none")
    with pytest.raises(FrontendUnavailable,
                       match="^front-end openai/whisper-reconfake-none: " + whisper
                       + r".*the offline Whisper is frontend: whisper-tiny\.en"):
        load_whisper("whisper-reconfake-none", cache=False)
