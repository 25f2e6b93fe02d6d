"""OpenAI's BPE encodings (``o200k_base``, ``cl100k_base``), loaded offline, once per process.

tiktoken's own ``get_encoding`` downloads the rank files from openaipublic.blob.core.windows.net
on first use (and caches them under ``$TMPDIR/data-gym-cache``). This module never calls it, nor
anything in ``tiktoken.load`` or ``tiktoken_ext``: the two rank files ship gzipped inside this
package (``billing/ranks/<name>.tiktoken.gz``), and the ``tiktoken.Encoding`` is built here from
them, so no code path can reach the network. Nothing global is set either (no
``TIKTOKEN_CACHE_DIR``).

- Why package data rather than a dependency: the files are OpenAI's public data, 2.4 MB
  gzipped (o200k_base 3.6 MB raw, 1.7 MB gzipped; cl100k_base 1.7 MB raw, 0.8 MB gzipped).
  The package we used to install for them (``bpe-openai``) is 75 MB, almost all a Rust
  extension we never load; PyPI has no well-kept package that ships only the rank files
  (the one that exists carries cl100k alone and registers itself as a tiktoken plugin).
  gzip rather than xz: xz saves 0.7 MB but is slower to decompress (75 ms against 25 ms
  for o200k) and Python's ``lzma`` module is missing from some builds; ``zlib`` never is.
- The files were made with ``gzip -9n`` from the files tiktoken downloads. Refreshing them is
  a deliberate change: fetch, check the SHA-256 below, ``gzip -9n``, commit.
- The decompressed ranks must match the SHA-256 that tiktoken pins for OpenAI's published files,
  so a count here is the count OpenAI's tokenizer gives, and a damaged file is refused.
- The pattern strings and special tokens are copied from ``tiktoken_ext/openai_public.py``
  (tiktoken 0.14), where they are locals of the loader functions; a test checks them against
  the installed tiktoken.
- tiktoken keeps the Python dict of ranks (about 26 MB for o200k) only to pickle an
  ``Encoding``; ours refuse pickling and drop it once the Rust ``CoreBPE`` has its own copy.

Measured (x86-64, Python 3.11, tiktoken 0.14), in a fresh process: loading o200k_base takes
about 0.3-0.4 s of CPU (read, verify and parse the ranks ~0.1 s, since the rank column is not
parsed; build the CoreBPE 0.15-0.25 s, holding the GIL) and raises RSS by 47-49 MB (more at
the peak of the load); cl100k_base then takes 0.15-0.2 s and +23 MB. Importing tiktoken
itself: 26 ms, +5 MB. Counting 100 KB of text with o200k takes ~3 ms for English prose,
~7 ms for Chinese, ~9 ms for Python source.

Loading is lazy and thread-safe: the first ``encoding(name)`` loads, concurrent callers wait
for it, later callers get the cached object. Building the ``CoreBPE`` holds the GIL for
0.1-0.2 s, so a load stalls an event loop even from a worker thread: the server counts in
a child process instead (``counter``), and loads here only when that child is unavailable.

Text is encoded in chunks of at most ``CHUNK_CHARS`` characters, cut where tiktoken's
pre-tokenizer always starts a new piece (``is_exact_cut``), so the count stays exact.
Without that, a long run of whitespace overflows the regex engine's backtracking stack:
tiktoken raises a Rust panic (``pyo3_runtime.PanicException``, a ``BaseException``) on about
1 MB of spaces.
"""

from __future__ import annotations

import binascii
import gzip
import hashlib
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import tiktoken

log = logging.getLogger(__name__)

EncodingName = Literal["o200k_base", "cl100k_base"]

ENDOFTEXT = "<|endoftext|>"
FIM_PREFIX = "<|fim_prefix|>"
FIM_MIDDLE = "<|fim_middle|>"
FIM_SUFFIX = "<|fim_suffix|>"
ENDOFPROMPT = "<|endofprompt|>"

_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)


@dataclass(frozen=True, slots=True)
class EncodingSpec:
    name: EncodingName
    pattern: str
    special_tokens: dict[str, int]
    sha256: str  # of the decompressed rank file, as tiktoken pins it
    n_ranks: int


SPECS: dict[EncodingName, EncodingSpec] = {
    "o200k_base": EncodingSpec(
        name="o200k_base",
        pattern=_O200K_PATTERN,
        special_tokens={ENDOFTEXT: 199999, ENDOFPROMPT: 200018},
        sha256="446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        n_ranks=199998,
    ),
    "cl100k_base": EncodingSpec(
        name="cl100k_base",
        pattern=_CL100K_PATTERN,
        special_tokens={
            ENDOFTEXT: 100257,
            FIM_PREFIX: 100258,
            FIM_MIDDLE: 100259,
            FIM_SUFFIX: 100260,
            ENDOFPROMPT: 100276,
        },
        sha256="223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        n_ranks=100256,
    ),
}

# The largest piece of text handed to tiktoken at once. 256 K spaces still encode; 1 M overflow.
CHUNK_CHARS = 8192
_CUT_TRIES = 64


class TokenizerUnavailable(RuntimeError):
    """The rank files are missing or corrupt (a broken install, not a bad request)."""


def _data_file(name: EncodingName) -> Path:
    """Where this package ships ``<name>.tiktoken.gz``."""
    return Path(__file__).with_name("ranks") / f"{name}.tiktoken.gz"


def read_ranks(spec: EncodingSpec) -> dict[bytes, int]:
    path = _data_file(spec.name)
    try:
        data = gzip.decompress(path.read_bytes())
    except (OSError, EOFError) as exc:
        raise TokenizerUnavailable(f"cannot read {path}: {exc}") from exc
    if hashlib.sha256(data).hexdigest() != spec.sha256:
        raise TokenizerUnavailable(f"{path} does not hold OpenAI's {spec.name} ranks")
    # The pinned files list one base64 token a line, ranked by line: 0, 1, 2... (a test
    # reads the rank column to check it), so the column need not be parsed: half the time.
    a2b = binascii.a2b_base64
    tokens = [a2b(line[: line.index(b" ")]) for line in data.split(b"\n") if line]
    ranks = dict(zip(tokens, range(len(tokens)), strict=True))
    if len(ranks) != spec.n_ranks:
        raise TokenizerUnavailable(f"{path}: {len(ranks)} ranks, expected {spec.n_ranks}")
    return ranks


def _build(spec: EncodingSpec) -> tiktoken.Encoding:
    import tiktoken  # no I/O at import: its downloader is only reached through get_encoding

    class _Encoding(tiktoken.Encoding):
        def __getstate__(self) -> object:
            raise TypeError("airelay's encodings are not picklable")

    ranks = read_ranks(spec)
    encoding = _Encoding(
        spec.name,
        pat_str=spec.pattern,
        mergeable_ranks=ranks,
        special_tokens=dict(spec.special_tokens),
    )
    # The CoreBPE holds its own copy; tiktoken keeps this dict only for pickling.
    if encoding._mergeable_ranks is ranks:
        encoding._mergeable_ranks = {}
    return encoding


_loaded: dict[EncodingName, tiktoken.Encoding] = {}
_failed: dict[EncodingName, TokenizerUnavailable] = {}
_locks: dict[EncodingName, threading.Lock] = {name: threading.Lock() for name in SPECS}


def encoding(name: EncodingName) -> tiktoken.Encoding:
    """The encoding ``name``, loaded on first use (once per process, thread-safe). Raises
    ``TokenizerUnavailable`` when the rank files are missing or corrupt."""
    loaded = _loaded.get(name)
    if loaded is not None:
        return loaded
    with _locks[name]:
        loaded = _loaded.get(name)
        if loaded is not None:
            return loaded
        failure = _failed.get(name)
        if failure is not None:
            raise failure
        try:
            loaded = _build(SPECS[name])
        except TokenizerUnavailable as exc:
            _failed[name] = exc
            raise
        _loaded[name] = loaded
        return loaded


def is_loaded(name: EncodingName) -> bool:
    return name in _loaded


def is_ready(name: EncodingName) -> bool:
    """Whether ``encoding(name)`` answers at once: loaded, or known to be unavailable."""
    return name in _loaded or name in _failed


def preload(*names: EncodingName) -> None:
    """Load ``names`` (default: every encoding) now rather than on the first count."""
    for name in names or tuple(SPECS):
        encoding(name)


def is_exact_cut(text: str, i: int) -> bool:
    """Whether encoding ``text[:i]`` and ``text[i:]`` apart gives the tokens of ``text``:
    true at a space that follows a non-space. Both encodings' pre-tokenizers then start a
    piece at ``i``: a piece holds whitespace after its first character only in a run of
    whitespace, so none can reach from ``text[i - 1]`` into the space; the patterns have
    no look-behind, and their look-aheads and ``$`` only act after whitespace, which the
    prefix does not end with. (Python's ``isspace`` covers the regex's ``\\s``.)"""
    return 0 < i < len(text) and text[i] == " " and not text[i - 1].isspace()


def chunks(text: str, size: int = CHUNK_CHARS) -> list[str]:
    """``text`` in pieces of at most ``size`` characters, cut at exact boundaries
    (``is_exact_cut``) found in the second half of each window; where there is none within
    a few tries (a run of spaces, one huge base64 word) the cut falls at the window's end,
    which may move a token or two."""
    if len(text) <= size:
        return [text]
    out: list[str] = []
    start = 0
    while len(text) - start > size:
        end = start + size
        cut = end
        i = text.rfind(" ", start + size // 2, end)
        for _ in range(_CUT_TRIES):
            if i <= start:
                break
            if is_exact_cut(text, i):
                cut = i
                break
            i = text.rfind(" ", start + size // 2, i)
        out.append(text[start:cut])
        start = cut
    out.append(text[start:])
    return out


def count(text: str, name: EncodingName) -> int:
    """The number of ``name`` tokens in ``text``; special-token text such as
    ``<|endoftext|>`` counts as ordinary text (what an API does with user content)."""
    if not text:
        return 0
    enc = encoding(name)
    total = 0
    for piece in chunks(text):
        try:
            total += len(enc.encode_ordinary(piece))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:  # a Rust panic (pyo3_runtime.PanicException)
            log.warning("tiktoken failed on a %d-char chunk; counting its bytes", len(piece))
            total += len(piece.encode("utf-8", "surrogatepass"))  # a token is >= 1 byte
    return total
