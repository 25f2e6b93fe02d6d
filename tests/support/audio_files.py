"""Small real audio files the tests make: a WAV of a known duration (the standard library's
``wave``), so that what the gateway measures and bills can be checked exactly."""

from __future__ import annotations

import io
import math
import struct
import wave


def wav_bytes(seconds: float, rate: int = 8000) -> bytes:
    """A mono 16-bit WAV of ``seconds`` (a 440 Hz tone) at ``rate`` frames per second."""
    frames = round(seconds * rate)
    samples = (int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(frames))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return buffer.getvalue()


def form(fields: dict[str, str], file: bytes, filename: str = "audio.wav") -> tuple[bytes, str]:
    """A multipart/form-data body and its content type, as an HTTP client writes one."""
    boundary = "----airelay-test-boundary-7MA4YWxkTrZu0gW"
    parts = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(f"{head}{value}\r\n".encode())
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: audio/wav\r\n\r\n'
        ).encode()
        + file
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
