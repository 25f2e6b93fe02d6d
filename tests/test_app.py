"""The application's start-up and shutdown: what happens before the server listens."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def test_encodings_load_in_a_thread_before_the_server_listens(tmp_path: Path) -> None:
    """A fresh process: once ``start`` returns (the site listens), both encodings are
    loaded, and they were built off the event loop's thread."""
    code = f"""
        import asyncio, pathlib, threading
        from airelay.billing import tokenizer
        from airelay.config import Settings
        from airelay.server import start
        from airelay.store.migrate import upgrade

        url = "sqlite:///{tmp_path}/airelay.db"
        upgrade(url)
        built_on = []
        build = tokenizer._build
        def spy(spec):
            built_on.append(threading.get_ident())
            return build(spec)
        tokenizer._build = spy

        async def main():
            loop_thread = threading.get_ident()
            settings = Settings(database_url=url, data_dir=pathlib.Path("{tmp_path}"), port=0)
            runner, port = await start(settings)
            try:
                loaded = [tokenizer.is_loaded(n) for n in ("o200k_base", "cl100k_base")]
                print(loaded, len(built_on), loop_thread in built_on)
            finally:
                await runner.cleanup()

        asyncio.run(main())
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[True, True] 2 False"
