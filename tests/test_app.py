"""The application's start-up and shutdown: what happens before the server listens."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_the_server_process_counts_tokens_in_a_child_and_never_builds_an_encoding(
    tmp_path: Path,
) -> None:
    """A fresh process serving: no encoding is built in it, before or after a count; the
    count (exact, as tiktoken gives it) comes from the counting process, which ends with
    the server."""
    code = f"""
        import asyncio, pathlib
        from airelay.billing import counter, tokenizer, tokens
        from airelay.config import Settings
        from airelay.server import start
        from airelay.store.migrate import upgrade

        url = "sqlite:///{tmp_path}/airelay.db"
        upgrade(url)

        async def main():
            settings = Settings(database_url=url, data_dir=pathlib.Path("{tmp_path}"), port=0)
            runner, port = await start(settings)
            try:
                got = await tokens.count_texts(["hello world", "", "foxes " * 5000], "o200k_base")
                proc = counter.COUNTER._proc
                print(got, counter.COUNTER.running, tokenizer.is_loaded("o200k_base"))
            finally:
                await runner.cleanup()
            print(proc.returncode is not None, counter.COUNTER.running)

        asyncio.run(main())
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    from airelay.billing import tokenizer

    expected = [
        tokenizer.count(text, "o200k_base") for text in ("hello world", "", "foxes " * 5000)
    ]
    assert result.stdout.split("\n")[:2] == [f"{expected} True False", "True False"]
