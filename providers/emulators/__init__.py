"""Protocol-faithful fake servers (Starlette apps on 127.0.0.1) with fault injection, for tests and the demo."""
