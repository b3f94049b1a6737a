"""End-to-end check of the example MCP server with the official Python MCP SDK client.

Usage: python_client.py URL ALICE_TOKEN BOB_TOKEN
Prints one JSON object with what it observed; exits non-zero on the first failed check.
"""

import asyncio
import json
import sys

from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def text(result):
    return result.content[0].text


async def session_for(url, token, body):
    client = create_mcp_http_client(headers={"Authorization": f"Bearer {token}"})
    async with client:
        async with streamable_http_client(url, http_client=client) as streams:
            read, write = streams[0], streams[1]
            async with ClientSession(read, write) as session:
                await session.initialize()
                return await body(session)


async def main(url, alice, bob):
    seen = {}

    async def alice_checks(s):
        tools = await s.list_tools()
        names = sorted(t.name for t in tools.tools)
        assert "slow_square" in names, names
        before = int(text(await s.call_tool("executions", {})))
        first = text(await s.call_tool("slow_square", {"n": 12}))
        second = text(await s.call_tool("slow_square", {"n": 12}))
        assert first == second, (first, second)
        after = int(text(await s.call_tool("executions", {})))
        assert after == before + 1, (before, after)
        stats = json.loads(text(await s.call_tool("cache_stats", {})))
        assert stats["tools/call"]["hits"] >= 1, stats
        res = await s.read_resource("demo://readme")
        assert "mcp-kv" in res.contents[0].text, res
        prompt = await s.get_prompt("greet", {"name": "Ada"})
        assert "Ada" in prompt.messages[0].content.text, prompt
        who = text(await s.call_tool("whoami", {}))
        assert who == "you are alice", who
        seen.update(tools=names, first=first, second=second, executions=[before, after],
                    stats_hits=stats["tools/call"]["hits"], whoami_alice=who)

    async def bob_checks(s):
        who = text(await s.call_tool("whoami", {}))
        assert who == "you are bob", who
        seen["whoami_bob"] = who

    await session_for(url, alice, alice_checks)
    await session_for(url, bob, bob_checks)

    # No token: the server answers 401 before MCP.
    async with create_mcp_http_client() as raw:
        r = await raw.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                           headers={"Accept": "application/json, text/event-stream"})
        assert r.status_code == 401, r.status_code
        seen["no_token_status"] = r.status_code

    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
