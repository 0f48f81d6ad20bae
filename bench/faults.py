"""The fault campaign (issue 12): the local stack with two replicas of every service, under
load, put through one fault after another; each fault's work is counted at the end.

    make faults                                # the full campaign (about 12 minutes)
    uv run python bench/faults.py --short      # the short one CI runs (tests/faults)
    uv run python bench/faults.py --only broker-kill,postgres-restart -n 100

It starts its own stack under ``.data/faults`` (fresh each run) on ports of its own (18xxx),
so a ``make up`` stack can run beside it. In each round, web forms are posted at a steady
pace (round robin over intake-svc's replicas; a post that fails is tried again with the same
``Idempotency-Key``, as a browser would) while staff work the cases of the round before:
take, complete the follow-up call with a next activity (the process action), close. The fault
strikes once the round is under way. When everything has settled, the round is counted:

- each form: exactly one case, one timeline (its two activities), one acknowledgement email;
- each case worked by staff: taken by them, closed, its follow-up call completed once with
  exactly one next activity, and the rule on completed follow-up calls fired exactly once.

It prints a line per fault (forms posted, cases, timelines, emails, staff-worked cases,
duplicates, losses) and exits 1 on any loss or duplicate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import shutil
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from harness import bench_parser, emails_by_subject
from pipeline import wait_until_quiet

from casestream_local.config import MESSAGING_SERVICE_NAMES, StackConfig
from casestream_local.stack import Stack

FOLLOW_UP_RULE = "5f2b1f7e-6a2e-4c55-9d8e-1b7a0c1e0002"  # the demo's, on completed calls
PORTS = {"case-svc": 18010, "activity-svc": 18020, "automation-svc": 18030}
PORTS |= {"notify-svc": 18040, "intake-svc": 18050}
# The demo case type's standard timeline, and what activity-svc logs: the web form, the email.
TIMELINE = {"open_case": 1, "follow_up_call": 1, "web_form": 1, "email": 1}
# A worked case: two calls (the first completed, the process action's next), one firing of
# the rule on completed calls.
WORKED = {"calls": 2, "completed calls": 1, "firings": 1, "closed and taken": 1}
SESSION_TIMEOUT_S = 10  # aiokafka's default session_timeout_ms: a stopped member is dropped


@dataclass
class Round:
    fault: str
    run: str
    subjects: list[str] = field(default_factory=list)  # of the forms accepted
    worked: list[str] = field(default_factory=list)  # case ids staff worked this round
    action_errors: Counter[str] = field(default_factory=Counter)
    counts: dict[str, int] = field(default_factory=dict)
    doubled: Counter[str] = field(default_factory=Counter)  # what came twice, by kind
    seconds: float = 0.0


class Campaign:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        repo = Path(__file__).resolve().parents[1]
        self.config = StackConfig(
            data_dir=repo / ".data" / "faults",
            services=MESSAGING_SERVICE_NAMES,  # the campaign works through the APIs, not a browser
            service_ports=dict(PORTS),
            smtp_port=18125,
            smtp_http_port=18025,
            postgres_port=18432,
            kafka_port=18092,
            database_url=None,  # its own embedded PostgreSQL: the campaign restarts it
            kafka_bootstrap=None,
            replicas=2,
            staff_token="faults-admin",
            extra_env={
                # One address posts thousands of forms a minute.
                "INTAKE_SVC_RATE_PER_CLIENT_PER_MINUTE": "1000000",
                "INTAKE_SVC_RATE_PER_FORM_PER_MINUTE": "1000000",
                # Hand-overs whose answer never came are re-driven within a round.
                "INTAKE_SVC_REDRIVE_AFTER_S": "45",
                "INTAKE_SVC_REDRIVE_INTERVAL_S": "5",
                "AUTOMATION_SVC_REDRIVE_AFTER_S": "45",
                "AUTOMATION_SVC_REDRIVE_INTERVAL_S": "5",
            },
        )
        self.stack = Stack(self.config, echo=self._echo)
        self.quiet = True
        self.token = self.config.staff_token
        self.intakes = [
            f"http://127.0.0.1:{r.port}" for r in self.config.replicas_of(_spec("intake-svc"))
        ]
        self.case_api = self.config.service_url("case-svc")
        self.activity_api = self.config.service_url("activity-svc")
        self.automation_api = self.config.service_url("automation-svc")
        self.sink = f"http://127.0.0.1:{self.config.smtp_http_port}"
        self.to_work: list[str] = []  # case ids of the last round, for staff to work

    def _echo(self, line: str) -> None:
        if not self.quiet or line.startswith(("The broker", "Restarting")):
            print(f"    stack: {line}", flush=True)

    # -- the stack ---------------------------------------------------------------------

    def up(self) -> None:
        self.stack.up()

    def fresh(self) -> None:
        self.stack.down()
        shutil.rmtree(self.config.data, ignore_errors=True)
        self.stack = Stack(self.config, echo=self._echo)  # forget what the old one recorded
        print(f"  starting the stack in {self.config.data} (logs in {self.config.logs})")
        self.up()

    # -- load ----------------------------------------------------------------------------

    async def post_forms(self, round_: Round, n: int, spread_s: float) -> None:
        """``n`` forms, evenly over ``spread_s`` seconds, each until accepted."""
        intakes = itertools.cycle(self.intakes)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as client:

            async def post(i: int) -> None:
                await asyncio.sleep(i * spread_s / n)
                subject = f"faults {round_.run} #{i}"
                body = {
                    "first_name": f"Fault{i}",
                    "last_name": "Tester",
                    "email": f"fault-{round_.run}-{i}@example.org",
                    "subject": subject,
                    "message": "hi",
                }
                key = f"{round_.run}-{i}"
                deadline = time.monotonic() + 180
                while time.monotonic() < deadline:
                    try:
                        async with client.post(
                            f"{next(intakes)}/f/contact",
                            json=body,
                            headers={"Idempotency-Key": key},
                        ) as response:
                            if response.status == 202:
                                round_.subjects.append(subject)
                                return
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                    await asyncio.sleep(0.5)
                round_.action_errors["post never accepted"] += 1

            await asyncio.gather(*(post(i) for i in range(n)))

    async def work_cases(self, round_: Round, case_ids: list[str], spread_s: float) -> None:
        """Staff take, complete the follow-up call with a next one, and close each case."""
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(timeout=10, headers=headers) as http:

            async def work(i: int, case_id: str) -> None:
                await asyncio.sleep(i * spread_s / max(1, len(case_ids)))
                round_.worked.append(case_id)
                await self._act(round_, http, "take", f"{self.case_api}/cases/{case_id}/take")
                call = await self._follow_up_call(http, case_id)
                if call is None:
                    round_.action_errors["no follow-up call to complete"] += 1
                    return
                due = (datetime.now(UTC) + timedelta(days=14)).isoformat()
                body = {
                    "outcome": "spoke",
                    "next": {"type": "follow_up_call", "subject": "Second call", "due_at": due},
                }
                url = f"{self.activity_api}/activities/{call}/complete"
                await self._act(round_, http, "complete", url, body)
                body = {"status": "resolved", "outcome": "resolved"}
                await self._act(
                    round_, http, "close", f"{self.case_api}/cases/{case_id}/close", body
                )

            await asyncio.gather(*(work(i, c) for i, c in enumerate(case_ids)))

    async def _act(
        self,
        round_: Round,
        http: httpx.AsyncClient,
        what: str,
        url: str,
        body: dict[str, Any] | None = None,
    ) -> None:
        """POST until it is done: a 2xx, or a 409 (done already: an answer that was lost on
        the way, a repeat must not do it twice). A person tries again after a 5xx or no
        answer."""
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                response = await http.post(url, json=body or {})
                if response.status_code < 300 or response.status_code == 409:
                    return
                if response.status_code < 500:
                    round_.action_errors[f"{what}: {response.status_code}"] += 1
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5)
        round_.action_errors[f"{what}: never answered"] += 1

    async def _follow_up_call(self, http: httpx.AsyncClient, case_id: str) -> str | None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                response = await http.get(f"{self.activity_api}/cases/{case_id}/activities")
                # Anything but 200 (a 503 while PostgreSQL restarts): look again, as a person would.
                for item in _items(response.json()) if response.status_code == 200 else []:
                    if item["type"] == "follow_up_call" and item["status"] == "scheduled":
                        return str(item["id"])
            except (httpx.HTTPError, ValueError):
                pass
            await asyncio.sleep(1)
        return None

    # -- counting ------------------------------------------------------------------------

    async def settle(self, round_: Round) -> None:
        """Count the round again and again until nothing is missing (or the deadline): a
        service still joining its groups looks as quiet as one that is done. Then once more,
        after all is quiet, for what came twice late."""
        deadline = time.monotonic() + self.args.deadline
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                await self.count(round_)
                if round_.counts["lost"] == 0:
                    break
            await asyncio.sleep(3)
        await wait_until_quiet_replicas(self.stack, timeout_s=120)
        await self.count(round_)

    async def count(self, round_: Round) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(timeout=30, headers=headers) as http:
            cases = await self._cases(http, round_.run)
            by_subject = Counter(case["subject"] for case in cases)
            emails = await emails_by_subject(self.sink, round_.subjects, time.time() - 3600)
            timelines: Counter[str] = Counter()
            for case in cases:
                activities = _items(
                    (await http.get(f"{self.activity_api}/cases/{case['id']}/activities")).json()
                )
                timelines[_against(Counter(a["type"] for a in activities), TIMELINE)] += 1
            worked = await self._worked(http, round_.worked)
        c = {
            "forms": len(round_.subjects),
            "cases": sum(1 for s in round_.subjects if by_subject[s] >= 1),
            "timelines": timelines["whole"],
            "emails": sum(1 for s in round_.subjects if len(emails.get(s, [])) >= 1),
            "worked": worked["whole"],
            "worked_of": len(round_.worked),
        }
        c["lost"] = (
            (c["forms"] - c["cases"])
            + (c["forms"] - c["emails"])
            + timelines["short"]
            + worked["short"]
            + sum(round_.action_errors.values())
        )
        c["duplicates"] = (
            sum(by_subject[s] - 1 for s in round_.subjects if by_subject[s] > 1)
            + sum(len(emails[s]) - 1 for s in emails if len(emails[s]) > 1)
            + timelines["more"]
            + worked["more"]
        )
        round_.counts = c
        round_.doubled = +Counter(
            {
                "cases": sum(by_subject[s] - 1 for s in round_.subjects if by_subject[s] > 1),
                "emails": sum(len(emails[s]) - 1 for s in emails if len(emails[s]) > 1),
                "timelines": timelines["more"],
                "worked cases": worked["more"],
            }
        )
        self.to_work = [case["id"] for case in cases]

    async def _cases(self, http: httpx.AsyncClient, run: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"q": run, "limit": 500, "active": "all"}
            if cursor:
                params["cursor"] = cursor
            page = (await http.get(f"{self.case_api}/cases", params=params)).json()
            found += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return found

    async def _worked(self, http: httpx.AsyncClient, case_ids: list[str]) -> Counter[str]:
        """Each worked case: closed, taken by staff, its first call completed once with one
        next call, one firing of the rule on completed calls."""
        tally: Counter[str] = Counter()
        for case_id in case_ids:
            case = (await http.get(f"{self.case_api}/cases/{case_id}")).json()
            activities = _items(
                (await http.get(f"{self.activity_api}/cases/{case_id}/activities")).json()
            )
            calls = [a for a in activities if a["type"] == "follow_up_call"]
            params = {"case_id": case_id, "rule_id": FOLLOW_UP_RULE}
            firings = _items(
                (await http.get(f"{self.automation_api}/firings", params=params)).json()
            )
            found = Counter(
                {
                    "calls": len(calls),
                    "completed calls": sum(1 for a in calls if a["status"] == "completed"),
                    "firings": len(firings),
                    # Taken by staff and closed: the close settles (cancels) the next call.
                    "closed and taken": int(case["active"] is False and bool(case["assignee"])),
                }
            )
            tally[_against(+found, WORKED)] += 1
        return tally

    # -- a round -------------------------------------------------------------------------

    async def round(self, fault: Fault) -> Round:
        round_ = Round(fault.name, uuid.uuid4().hex[:8])
        started = time.monotonic()
        to_work, self.to_work = self.to_work[: self.args.work], []
        load = asyncio.gather(
            self.post_forms(round_, self.args.n, self.args.spread),
            self.work_cases(round_, to_work, self.args.spread),
        )
        await asyncio.sleep(self.args.spread / 3)
        await fault.strike(self)
        await load
        await self.settle(round_)
        round_.seconds = time.monotonic() - started
        return round_


# -- the faults ------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    name: str
    strike: Callable[[Campaign], Awaitable[None]]


def kill(*processes: str) -> Callable[[Campaign], Awaitable[None]]:
    async def strike(campaign: Campaign) -> None:
        for process in processes:
            campaign.stack.signal(process, signal.SIGKILL)
        await asyncio.sleep(3)
        await asyncio.to_thread(campaign.up)

    return strike


async def restart_postgres(campaign: Campaign) -> None:
    await asyncio.to_thread(campaign.stack.stop, ["postgres"])
    await asyncio.sleep(3)
    await asyncio.to_thread(campaign.up)


async def stop_smtp_sink(campaign: Campaign) -> None:
    await asyncio.to_thread(campaign.stack.stop, ["smtp-sink"])
    await asyncio.sleep(campaign.args.smtp_down)
    await asyncio.to_thread(campaign.up)


async def freeze_case_svc(campaign: Campaign) -> None:
    """SIGSTOP one replica past the session timeout: the group hands its partitions to the
    other; on SIGCONT it finds it lost them (its commits fail, the inbox drops repeats)."""
    campaign.stack.signal("case-svc-2", signal.SIGSTOP)
    await asyncio.sleep(SESSION_TIMEOUT_S + 5)
    campaign.stack.signal("case-svc-2", signal.SIGCONT)


async def terminate_all(campaign: Campaign) -> None:
    names = [r.name for r in campaign.stack.replicas()]
    await asyncio.to_thread(campaign.stack.stop, names)
    await asyncio.to_thread(campaign.up)


AFTER_KILLS = [
    Fault("broker-kill", kill("tansu")),
    Fault("postgres-restart", restart_postgres),
    Fault("smtp-sink-down", stop_smtp_sink),
    Fault("sigstop case-svc-2", freeze_case_svc),
    Fault("sigterm all", terminate_all),
]
FAULTS = [*(Fault(f"kill-9 {name}", kill(name)) for name in MESSAGING_SERVICE_NAMES), *AFTER_KILLS]
# The short campaign (CI's) kills a replica of every service at once, in one round, and
# leaves out the sink and the SIGSTOP, which the services' own tests cover (notify-svc's
# SMTP failures, shared/tests/test_batches.py's rebalances): the suite must stay quick.
SHORT = [
    Fault("kill-9 every service", kill(*MESSAGING_SERVICE_NAMES)),
    *(f for f in AFTER_KILLS if f.name in {"broker-kill", "postgres-restart", "sigterm all"}),
]


# -- helpers -----------------------------------------------------------------------------


def _spec(name: str) -> Any:
    from casestream_local.config import SERVICES

    return next(s for s in SERVICES if s.name == name)


def _items(page: Any) -> list[dict[str, Any]]:
    return page["items"] if isinstance(page, dict) else page


def _against(found: Counter[str], want: dict[str, int]) -> str:
    """ "whole" when ``found`` is ``want``, "more" when it has anything extra, else "short"."""
    if found == Counter(want):
        return "whole"
    return "more" if any(n > want.get(k, 0) for k, n in found.items()) else "short"


async def wait_until_quiet_replicas(stack: Stack, timeout_s: float) -> None:
    """``pipeline.wait_until_quiet`` over every replica: no outbox backlog, nothing consumed
    for half a second."""
    urls = [f"http://127.0.0.1:{r.port}" for r in stack.replicas()]
    await wait_until_quiet(stack.config, timeout_s, urls)


def print_report(rounds: list[Round]) -> bool:
    header = ("fault", "forms", "cases", "timelines", "emails", "worked", "dupl.", "lost", "s")
    print()
    print(f"{header[0]:<24}" + "".join(f"{h:>10}" for h in header[1:]))
    for r in rounds:
        c = r.counts
        cells = [
            c["forms"],
            c["cases"],
            c["timelines"],
            c["emails"],
            f"{c['worked']}/{c['worked_of']}",
            c["duplicates"],
            c["lost"],
            f"{r.seconds:.0f}",
        ]
        print(f"{r.fault:<24}" + "".join(f"{cell!s:>10}" for cell in cells))
        if r.action_errors:
            print(f"    {dict(r.action_errors)}")
        if r.doubled:
            print(f"    twice: {dict(r.doubled)}")
    total = {k: sum(r.counts[k] for r in rounds) for k in ("forms", "duplicates", "lost")}
    ok = total["duplicates"] == 0 and total["lost"] == 0
    print(
        f"\n{total['forms']} forms in {len(rounds)} rounds: "
        f"{total['lost']} lost, {total['duplicates']} duplicated: {'OK' if ok else 'FAILED'}"
    )
    return ok


async def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("-n", type=int, default=250, help="forms per round")
    parser.add_argument("--spread", type=float, default=12, help="seconds to post a round over")
    parser.add_argument("--work", type=int, default=40, help="cases staff work per round")
    parser.add_argument("--smtp-down", type=float, default=30, help="seconds the sink is down")
    parser.add_argument("--deadline", type=float, default=240, help="seconds to drain a round")
    parser.add_argument("--only", help="comma-separated fault names (default: all)")
    parser.add_argument(
        "--short",
        action="store_true",
        help="CI's: 30 forms and 8 worked a round; the five kills in one, the broker, PostgreSQL, SIGTERM",
    )
    parser.add_argument("--keep", action="store_true", help="leave the stack running after")
    args = parser.parse_args()
    faults = FAULTS
    if args.short:
        args.n, args.spread, args.work, args.smtp_down = 30, 6, 8, 10
        faults = SHORT
    if args.only:
        wanted = args.only.split(",")
        known = {f.name: f for f in FAULTS + SHORT}
        faults = [known[name] for name in wanted if name in known]
        if len(faults) != len(wanted):
            raise SystemExit(f"unknown fault in {wanted}; known: {list(known)}")
    campaign = Campaign(args)
    print(f"fault campaign: {len(faults)} faults, {args.n} forms a round, two replicas each")
    campaign.fresh()
    rounds: list[Round] = []
    try:
        # A round without a fault first: its cases are what staff work in the first fault's.
        warm = await campaign.round(Fault("none (warm-up)", _no_fault))
        rounds.append(warm)
        for fault in faults:
            print(f"  {fault.name} ...", flush=True)
            rounds.append(await campaign.round(fault))
            c = rounds[-1].counts
            print(f"    {c['lost']} lost, {c['duplicates']} duplicated", flush=True)
    finally:
        ok = bool(rounds) and all(r.counts for r in rounds) and print_report(rounds)
        if not args.keep:
            campaign.stack.down()
    sys.exit(0 if ok else 1)


async def _no_fault(campaign: Campaign) -> None:
    return None


if __name__ == "__main__":
    asyncio.run(main())
