"""The benchmark DAG written by hand: what the graph executor is compared against."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from queuefleet_packs.graphs.activities import HTTP_REQUEST_ACTIVITY, HttpRequest

SECTIONS = 4
WIDTH = 50


@workflow.defn(name="HandWrittenDag")
class HandWrittenDag:
    @workflow.run
    async def run(self, base_url: str) -> int:
        done = 0
        for section in range(SECTIONS):
            calls = [
                workflow.execute_activity(
                    HTTP_REQUEST_ACTIVITY,
                    HttpRequest(node=f"s{section}n{i}", url=f"{base_url}/{section}/{i}"),
                    result_type=dict,
                    start_to_close_timeout=timedelta(seconds=30),
                )
                for i in range(WIDTH)
            ]
            done += len(await asyncio.gather(*calls))
        return done
