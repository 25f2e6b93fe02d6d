"""Same format on both sides: the upstream's events go to the client as they came, through
the format's ``Rewriter`` (model renamed back, usage read), framed for the client.

The fast path takes raw blocks of whole SSE events (an SSE upstream, an SSE client): a
block holding none of the rewriter's triggers, the wire's end marks or an error mark goes
out as it came, after SIMD searches only (``formats.search``). The events that hold one
are parsed one by one (``events``): the rewriter reads them, the wire says whether one
ends the stream, and an error event is scrubbed.

An event that ends the stream while no usage has come is held back, with whatever follows
it, until the relay knows the usage it bills (``close``): the rewriter then puts that usage
into the held end in the format's own fields.
"""

from __future__ import annotations

from airelay.formats.client_framing import ClientFramer
from airelay.formats.framing import FAILURE, Deframer, Event, sse_events
from airelay.formats.passthrough import Rewriter, kept_text
from airelay.formats.search import find
from airelay.formats.sse import BlockAligner, event_bounds
from airelay.formats.usage import Usage
from airelay.formats.wire import Wire
from airelay.relay.scrub import ERROR_MARK, StreamScrubber


class PassThrough:
    """One pass-through stream's state: completion, usage, an upstream failure."""

    __slots__ = (
        "_aligner",
        "_framer",
        "_held",
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
        # The end of a stream that brought no usage, and what followed it, as (name, data).
        self._held: list[tuple[str | None, bytes]] | None = None

    @property
    def usage(self) -> Usage | None:
        return self._rewriter.usage

    @property
    def end_out(self) -> bool:
        """The stream's end has been given out (not held back for the usage)."""
        return self.finished and self._held is None

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
        if self.holding():
            return self.events(sse_events(block))
        out: list[bytes] = []
        rewriter = self._rewriter
        while block:
            first = -1
            for trigger in self._triggers:
                found = find(block, trigger, 0)
                if found >= 0 and (first < 0 or found < first):
                    first = found
            if first < 0:
                out.append(rewriter.block(block))
                break
            start, end = event_bounds(block, first)
            if start:
                out.append(rewriter.block(block[:start]))
            out.append(self.events(sse_events(block[start:end])))
            block = block[end:]
            if self.holding():
                # Held from here on: what follows is read event by event (it may hold the
                # end) and waits too. Only a stream without usage comes here.
                out.append(self.events(sse_events(block)))
                break
        return out[0] if len(out) == 1 else b"".join(out)

    def holding(self) -> bool:
        """Whether the stream's end is held back (for the usage). A method, not a test of
        ``_held`` in ``block``: a type checker would take the test before ``events`` as
        still true after it, and the compiled code would trust it."""
        return self._held is not None

    def events(self, events: list[Event]) -> bytes:
        out: list[bytes] = []
        for name, data in events:
            if name == FAILURE:
                self.failure = data.decode("utf-8", "replace")
                break
            ends = self._wire.ends(name, data)
            if ends:
                self.finished = True
            rewritten = self._rewriter.rewrite(name, self._scrubber.error_event(name, data))
            if (
                (ends or self._rewriter.hold)
                and self._held is None
                and self._rewriter.usage is None
            ):
                self._held = []  # the end, and what follows, wait for the billed usage
            if rewritten is None:
                continue
            if self._held is not None:
                self._held.append((name, rewritten))
            else:
                out.append(self._framer.frame(name, rewritten))
        return b"".join(out)

    def close(self, billed: Usage | None) -> bytes:
        """What was held back, carrying ``billed`` when the upstream reported no usage."""
        held, self._held = self._held, None
        if not held:
            return b""
        if billed is not None and self._rewriter.usage is None:
            held = self._rewriter.billed(held, billed)
        return b"".join(self._framer.frame(name, data) for name, data in held)

    def text(self) -> str:
        """The text the stream produced, to estimate usage when none came."""
        return kept_text(self._wire.codec, self._rewriter.kept)
