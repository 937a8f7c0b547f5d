"""Print the events Partout republishes for integrations: partout.node.<agent>.<module>.<status>.

    partout integrations add dashboard --role reader --out dashboard.nk
    python3 integration_subscriber.py nats://127.0.0.1:4222 dashboard.nk
"""
import asyncio
import json
import sys

import nats


async def main(url: str, seed_file: str) -> None:
    connection = await nats.connect(url, nkeys_seed=seed_file)  # the seed signs the server's nonce
    async for message in (await connection.subscribe("partout.node.>")).messages:
        _, _, agent, module, status = message.subject.split(".", 4)
        print(agent, module, status, json.loads(message.data), flush=True)


asyncio.run(main(sys.argv[1], sys.argv[2]))
