"""Same format on both sides: the upstream's events go to the client as they came, through
the format's ``Rewriter`` (model renamed back, usage read), framed for the client.

The fast path takes raw blocks of whole SSE events (an SSE upstream, an SSE client): a
block holding none of the rewriter's triggers, the wire's end marks or an error mark goes
out as it came, after C-speed ``find``s only. The events that hold one are parsed one by
one (``events``): the rewriter reads them, the wire says whether one ends the stream, and
an error event is scrubbed.
"""

from __future__ import annotations

from airelay.formats.client_framing import ClientFramer
from airelay.formats.framing import FAILURE, Deframer, Event, sse_events
from airelay.formats.passthrough import Rewriter, kept_text
from airelay.formats.sse import BlockAligner, event_bounds
from airelay.formats.usage import Usage
from airelay.formats.wire import Wire
from airelay.relay.scrub import ERROR_MARK, StreamScrubber


class PassThrough:
    """One pass-through stream's state: completion, usage, an upstream failure."""

    __slots__ = (
        "_aligner",
        "_framer",
        "_reader",
        "_rewriter",
        "_scrubber",
        "_triggers",
        "_wire",
        "failure",
        "finished",
    )

    def __init__(
        self,
        wire: Wire,
        rewriter: Rewriter,
        framer: ClientFramer,
        scrubber: StreamScrubber,
        reader: Deframer | None,
    ) -> None:
        """``reader`` deframes the upstream's stream; None: raw SSE blocks (the fast path)."""
        self._reader = reader
        self._aligner = BlockAligner() if reader is None else None
        self._wire = wire
        self._rewriter = rewriter
        self._framer = framer
        self._scrubber = scrubber
        self._triggers = (*rewriter.triggers, *wire.end_marks, ERROR_MARK)
        self.finished = False
        self.failure: str | None = None  # an upstream failure the framing reported

    @property
    def usage(self) -> Usage | None:
        return self._rewriter.usage

    def feed(self, chunk: bytes) -> bytes:
        """A piece of the upstream's stream: what goes to the client for it."""
        if self._reader is not None:
            return self.events(self._reader.feed(chunk))
        assert self._aligner is not None
        block = self._aligner.feed(chunk)
        return self.block(block) if block else b""

    def end(self) -> tuple[bytes, bool]:
        """The upstream's stream ended: the last bytes for the client, and whether the
        stream was complete."""
        if self._reader is not None:
            rest = self._reader.close()
        else:
            assert self._aligner is not None
            rest = sse_events(self._aligner.rest())
        return self.events(rest), self.finished

    def block(self, block: bytes) -> bytes:
        """A block of whole SSE events, for a client of the same framing: raw bytes,
        except the events holding a trigger, which are read one by one."""
        out: list[bytes] = []
        rewriter = self._rewriter
        while block:
            positions = [p for p in map(block.find, self._triggers) if p >= 0]
            if not positions:
                out.append(rewriter.block(block))
                break
            start, end = event_bounds(block, min(positions))
            if start:
                out.append(rewriter.block(block[:start]))
            out.append(self.events(sse_events(block[start:end])))
            block = block[end:]
        return b"".join(out)

    def events(self, events: list[Event]) -> bytes:
        out: list[bytes] = []
        for name, data in events:
            if name == FAILURE:
                self.failure = data.decode("utf-8", "replace")
                break
            if self._wire.ends(name, data):
                self.finished = True
            rewritten = self._rewriter.rewrite(name, self._scrubber.error_event(name, data))
            if rewritten is not None:
                out.append(self._framer.frame(name, rewritten))
        return b"".join(out)

    def text(self) -> str:
        """The text the stream produced, to estimate usage when none came."""
        return kept_text(self._wire.codec, self._rewriter.kept)
