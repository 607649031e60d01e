"""A real MCP client (the official Python SDK) against Aladdin's /api/mcp.

Usage: client.py URL AUTHORIZATION AGENT_ID PROMPT
Prints one JSON object: the tools listed, list_agents, the run_<agent> call (with the
progress notifications received) and get_execution of that run.
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def result_json(result):
    return {
        "isError": bool(result.is_error),
        "text": "".join(getattr(c, "text", "") for c in result.content),
        "structured": result.structured_content,
    }


async def main(url, authorization, agent_id, prompt):
    out = {}
    http = create_mcp_http_client(headers={"Authorization": authorization})
    async with http:
        async with streamable_http_client(url, http_client=http) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await session.initialize()
                tools = await session.list_tools()
                out["tools"] = sorted(t.name for t in tools.tools)
                out["schemas"] = {t.name: t.input_schema for t in tools.tools}
                out["listAgents"] = result_json(await session.call_tool("list_agents", {}))
                progress = []

                async def on_progress(value, total, message):
                    progress.append({"progress": value, "message": message})

                run = await session.call_tool(
                    f"run_{agent_id}", {"prompt": prompt}, progress_callback=on_progress
                )
                out["run"] = result_json(run)
                out["progress"] = progress
                structured = run.structured_content or {}
                if "executionId" in structured:
                    got = await session.call_tool(
                        "get_execution", {"id": structured["executionId"]}
                    )
                    out["getExecution"] = result_json(got)
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
