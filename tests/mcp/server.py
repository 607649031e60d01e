"""A small MCP server on the official Python SDK, for Aladdin's MCP client tests.

Usage: server.py http PORT   (streamable HTTP at http://127.0.0.1:PORT/mcp)
       server.py stdio

Tools: add(a, b); slow(seconds) (for timeouts); secret() (kept out by allow-lists);
forget_sessions() (drops every session, so the next request with an old session id answers
404, as a restarted or expiring server does).
"""

import sys

import anyio
from mcp.server.mcpserver import MCPServer

mcp = MCPServer("aladdin-test-server")


@mcp.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@mcp.tool()
async def slow(seconds: float) -> str:
    """Sleep, then answer."""
    await anyio.sleep(seconds)
    return "finally"


@mcp.tool()
def secret() -> str:
    """A tool that allow-lists keep out."""
    return "the secret"


@mcp.tool()
def forget_sessions() -> str:
    """Forget every session (their ids answer 404 from now on)."""
    manager = mcp.session_manager
    manager._server_instances.clear()
    manager._session_owners.clear()
    return "forgotten"


if __name__ == "__main__":
    if sys.argv[1] == "stdio":
        mcp.run("stdio")
    else:
        anyio.run(lambda: mcp.run_streamable_http_async(host="127.0.0.1", port=int(sys.argv[2])))
