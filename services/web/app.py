"""The operator's web console: login, the shared queue, the review screen, live events, the supervisor page.

A Starlette app over a `Desk` (Redis). Pages are plain HTML and JavaScript served from this package (no
front-end build step, nothing fetched from the network at run time). State changes are POSTs that carry
the session's CSRF token in `X-CSRF-Token`; the session cookie is HttpOnly and SameSite=Strict. Live
updates are server-sent events whose ids are the Redis stream's, so a browser that reconnects with
`Last-Event-ID` is sent what it missed.

`serve` runs it with its two helpers: the feeder (a consumer of `lanewatch.alerts` in the group
`lanewatch-console-web`, putting each alert in the queue with its lane's deadline) and the sweeper (every
scan past its deadline becomes UNKNOWN: an `unknown` decision on `lanewatch.alerts.acks`, escalated to
supervisors, counted).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from html import escape
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from pipeline.messages import Ack, Alert
from services.web.desk import MODES, Desk, Session

__all__ = ["COOKIE", "REASONS", "Console", "create_app"]

log = logging.getLogger(__name__)

COOKIE = "lw_session"
REASONS = {
    "clear": ("benign-explained", "no-threat-visible", "detector-false-alarm"),
    "search": ("threat-visible", "cannot-see-through", "suspicious-shape", "dense-object"),
    "escalate": ("need-second-opinion", "possible-ied", "image-quality"),
}


def _page(name: str) -> str:
    return resources.files("services.web").joinpath("pages", name).read_text(encoding="utf-8")


class Console:
    """What the routes need: the desk, where decisions go, where scan images come from."""

    def __init__(self, desk: Desk, send_ack: Callable[[Ack], None], scan_image: Callable[[str, str], bytes | None],
                 *, model_version: str = "", secure_cookie: bool = False, lanes: Callable[[], list] | None = None) -> None:
        self.desk, self.send_ack, self.scan_image, self.lanes = desk, send_ack, scan_image, lanes
        self.model_version, self.secure_cookie = model_version, secure_cookie
        self.registry = CollectorRegistry()
        self.unknown = Counter("lanewatch_console_unknown", "scans not decided before their deadline (UNKNOWN, escalated)",
                               registry=self.registry)
        self.decisions = Counter("lanewatch_console_decisions", "operator decisions", ["decision", "source"],
                                 registry=self.registry)
        self.closing = False  # set on shutdown: event streams end instead of waiting to be cancelled

    @property
    def unknown_total(self) -> int:
        return int(self.registry.get_sample_value("lanewatch_console_unknown_total") or 0)

    def lane_board(self) -> list[dict[str, Any]]:
        """Each lane: status and counters (Redis), scans in the last minute, open alerts, queue, who holds its scans,
        mean decision time, review mode and TIP rate."""
        lanes = self.lanes() if self.lanes is not None else []
        queue = self.desk.queue()
        per_minute = self.desk.scans_last_minute()
        board = []
        for lane in lanes:
            mine = [i for i in queue if i["alert"]["lane_id"] == lane.lane_id]
            board.append({
                "lane_id": lane.lane_id, "state": lane.state, "counters": lane.counters,
                "open_alerts": len(lane.open_alerts), "scans_per_minute": per_minute.get(lane.lane_id, 0),
                "queued": len(mine), "operators": sorted({i["claimed_by"] for i in mine if i.get("claimed_by")}),
                "mean_decision_s": self.desk.mean_decision_s(lane.lane_id),
                **self.desk.lane_settings(lane.lane_id),
            })
        return board

    def session(self, request: Request) -> Session | None:
        return self.desk.session(request.cookies.get(COOKIE))

    def timeout_due(self) -> list[dict[str, Any]]:
        """The sweeper's step: time out what is due and send each one's UNKNOWN decision on."""
        due = self.desk.expire_due()
        for item in due:
            alert = item["alert"]
            self.send_ack(Ack(alert_id=alert["alert_id"], lane_id=alert["lane_id"], decision="unknown", operator="deadline",
                              at=datetime.now(UTC), note="no decision before the deadline: UNKNOWN, escalated to supervisors"))
            self.unknown.inc()
        return due


def create_app(console: Console) -> Starlette:
    """The routes. Those that only talk to Redis are plain functions (Starlette runs them in its thread pool);
    those that read a request body or stream are coroutines that hand their Redis work to the pool in one call."""
    desk = console.desk

    def need(request: Request, role: str = "screener", *, csrf: bool = False) -> Session | Response:
        s = console.session(request)
        if s is None:
            return JSONResponse({"error": "log in first"}, status_code=401)
        if not s.at_least(role):
            return JSONResponse({"error": f"{role}s only"}, status_code=403)
        if csrf and request.headers.get("x-csrf-token") != s.csrf:
            return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
        return s

    def index(request: Request) -> Response:
        return RedirectResponse("/console" if console.session(request) else "/login", status_code=303)

    def login_page(request: Request, message: str = "", status: int = 200) -> Response:
        return HTMLResponse(_page("login.html").replace("{{message}}", escape(message)), status_code=status)

    def login_as(request: Request, user: str, password: str) -> Response:
        try:
            s = desk.login(user, password, client=request.client.host if request.client else "-")
        except PermissionError as err:
            return login_page(request, str(err), 429)
        if s is None:
            return login_page(request, "wrong user name or password", 401)
        response = RedirectResponse("/console", status_code=303)
        response.set_cookie(COOKIE, s.token, httponly=True, samesite="strict", secure=console.secure_cookie,
                            max_age=desk.session_s, path="/")
        return response

    async def login(request: Request) -> Response:
        # an urlencoded form of two fields: parsed here rather than with python-multipart
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        return await run_in_threadpool(login_as, request, form.get("user", ""), form.get("password", ""))

    def logout(request: Request) -> Response:
        s = need(request, csrf=True)
        if isinstance(s, Response):
            return s
        desk.logout(s.token)
        response = JSONResponse({"ok": True})
        response.delete_cookie(COOKIE, path="/")
        return response

    def console_page(request: Request) -> Response:
        s = console.session(request)
        if s is None:
            return RedirectResponse("/login", status_code=303)
        html = (_page("console.html").replace("{{csrf}}", s.csrf).replace("{{user}}", escape(s.user))
                .replace("{{role}}", s.role).replace("{{reasons}}", json.dumps(REASONS)))
        return HTMLResponse(html)

    def supervisor_page(request: Request) -> Response:
        s = console.session(request)
        if s is None:
            return RedirectResponse("/login", status_code=303)
        if not s.at_least("supervisor"):
            return HTMLResponse("<h1>403</h1><p>supervisors only</p>", status_code=403)
        audit = desk.audit_log(2000)
        rows = "".join(_operator_row(u, f) for u, f in sorted(desk.operator_figures().items()))
        lane_rows = "".join(_lane_row(b) for b in console.lane_board())
        log_rows = "".join(
            f"<tr><td>{datetime.fromtimestamp(int(e['at']) / 1000, UTC):%H:%M:%S}</td><td>{escape(e['user'])}</td>"
            f"<td>{escape(e['action'])}</td><td>{escape(e.get('alert_id', ''))}</td>"
            f"<td>{escape(e.get('decision', ''))} {escape(e.get('reason', ''))}</td></tr>" for e in audit[:200])
        unknown_ids = [e["alert_id"] for e in audit if e["action"] == "unknown"][:50]
        unknown_rows = "".join(f"<tr><td>{escape(i['alert_id'])}</td><td>{escape(i['alert']['lane_id'])}</td>"
                               f"<td>{escape(i.get('claimed_by', '-'))}</td></tr>"
                               for a in unknown_ids if (i := desk.item(a)) is not None)
        html = (_page("supervisor.html").replace("{{user}}", escape(s.user)).replace("{{figures}}", rows)
                .replace("{{audit}}", log_rows).replace("{{unknown}}", unknown_rows)
                .replace("{{unknown_total}}", str(console.unknown_total)).replace("{{lanes}}", lane_rows)
                .replace("{{csrf}}", s.csrf))
        return HTMLResponse(html)

    def api_queue(request: Request) -> Response:
        s = need(request)
        if isinstance(s, Response):
            return s
        last = desk.last_event_id()
        return JSONResponse({"items": desk.queue(), "last_event_id": last, "user": s.user, "role": s.role})

    def api_next(request: Request) -> Response:
        s = need(request, csrf=True)
        if isinstance(s, Response):
            return s
        return JSONResponse({"item": desk.claim_next(s.user)})

    def api_claim(request: Request) -> Response:
        s = need(request, csrf=True)
        if isinstance(s, Response):
            return s
        try:
            item = desk.claim(request.path_params["alert_id"], s.user)
        except LookupError as err:
            return JSONResponse({"error": str(err)}, status_code=404)
        except PermissionError as err:
            return JSONResponse({"error": str(err)}, status_code=409)
        return JSONResponse({"item": item})

    def decide(request: Request, body: Any) -> Response:
        s = need(request, csrf=True)
        if isinstance(s, Response):
            return s
        alert_id = request.path_params["alert_id"]
        try:
            verdict, reason, note = str(body["decision"]), str(body.get("reason", "")), str(body.get("note", ""))[:500]
        except (KeyError, TypeError, AttributeError):
            return JSONResponse({"error": 'send JSON {"decision": "clear|search|escalate", "reason": ..., "note": ...}'},
                                status_code=400)
        if verdict not in REASONS or reason not in REASONS[verdict]:
            return JSONResponse({"error": f"decision one of {', '.join(REASONS)} with a reason code of it"}, status_code=400)
        try:
            item = desk.decide(alert_id, s.user, verdict, reason=reason, note=note)
        except LookupError as err:
            return JSONResponse({"error": str(err)}, status_code=404)
        except PermissionError as err:
            return JSONResponse({"error": str(err)}, status_code=409)
        source = desk.source(alert_id)
        console.decisions.labels(verdict, source).inc()
        if source != "alert":
            # a TIP never leaves the console; a clean scan of a review-all lane has no alert to answer
            return JSONResponse({"item": item})
        alert = item["alert"]
        text = f"{reason}" + (f": {note}" if note else "")
        if verdict == "search":  # where the search officer should look
            text += " | look at: " + "; ".join(f"{d['label']} {d.get('view') or 'top'} {[round(v) for v in _xyxy(d)]}"
                                                for d in alert["detections"])
        ack = Ack(alert_id=alert_id, lane_id=alert["lane_id"], decision=verdict, operator=s.user, at=datetime.now(UTC),
                  note=text[:1000])
        try:
            console.send_ack(ack)
        except Exception as err:  # the broker did not take it: the scan goes back to this operator
            desk.undo(alert_id, s.user)
            log.error("decision not sent: %s", err)
            return JSONResponse({"error": f"decision not sent, try again: {err}"}, status_code=503)
        return JSONResponse({"item": item})

    async def api_decide(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        return await run_in_threadpool(decide, request, body)

    def api_image(request: Request) -> Response:
        s = need(request)
        if isinstance(s, Response):
            return s
        item = desk.item(request.path_params["alert_id"])
        if item is None:
            return PlainTextResponse("no such alert", status_code=404)
        view = request.query_params.get("view", "top")
        data = desk.image(item["alert_id"])  # a TIP shows its projection
        if data is None:
            data = console.scan_image(item["alert"]["scan_id"], view)
        if data is None:
            return PlainTextResponse("the scan's image is no longer kept", status_code=404)
        digest = hashlib.sha256(data).hexdigest()
        desk.audit(s.user, "view", alert_id=item["alert_id"], view=view, image_sha256=digest, model=console.model_version)
        kind = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
        return Response(data, media_type=kind, headers={"Cache-Control": "private, no-store", "X-Image-SHA256": digest})

    async def api_events(request: Request) -> Response:
        s = await run_in_threadpool(need, request)
        if isinstance(s, Response):
            return s
        last = request.headers.get("last-event-id") or request.query_params.get("last") or "$"
        if last == "$":
            last = await run_in_threadpool(desk.last_event_id)

        async def stream():
            nonlocal last
            yield "retry: 1000\n\n"
            while not console.closing and not await request.is_disconnected():
                events = await run_in_threadpool(desk.events_after, last, block_ms=1000)
                if not events:
                    yield ": keep-alive\n\n"
                for event_id, kind, data in events:
                    last = event_id
                    yield f"id: {event_id}\nevent: {kind}\ndata: {json.dumps(data)}\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    def api_lanes(request: Request) -> Response:
        s = need(request)
        if isinstance(s, Response):
            return s
        return JSONResponse({"lanes": console.lane_board()})

    def set_lane(request: Request, body: Any) -> Response:
        s = need(request, "supervisor", csrf=True)
        if isinstance(s, Response):
            return s
        try:
            rate = None if body.get("tip_rate") in (None, "") else float(body["tip_rate"])
            settings = desk.set_lane(request.path_params["lane"], mode=body.get("mode"), tip_rate=rate, by=s.user)
        except (ValueError, TypeError, AttributeError) as err:
            return JSONResponse({"error": str(err)}, status_code=400)
        return JSONResponse(settings)

    async def api_set_lane(request: Request) -> Response:
        try:
            body = await request.json()
        except ValueError:
            body = None
        return await run_in_threadpool(set_lane, request, body)

    def metrics(request: Request) -> Response:
        return Response(generate_latest(console.registry), media_type=CONTENT_TYPE_LATEST)

    def healthz(request: Request) -> Response:
        ok = bool(desk.r.ping())
        return JSONResponse({"ok": ok, "unknown_total": console.unknown_total}, status_code=200 if ok else 503)

    routes = [
        Route("/", index), Route("/login", login_page, methods=["GET"]), Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]), Route("/console", console_page),
        Route("/supervisor", supervisor_page), Route("/api/queue", api_queue), Route("/api/next", api_next, methods=["POST"]),
        Route("/api/alerts/{alert_id}/claim", api_claim, methods=["POST"]),
        Route("/api/alerts/{alert_id}/decision", api_decide, methods=["POST"]),
        Route("/api/alerts/{alert_id}/image", api_image), Route("/api/events", api_events), Route("/healthz", healthz),
        Route("/metrics", metrics), Route("/api/lanes", api_lanes), Route("/api/lanes/{lane}", api_set_lane, methods=["POST"]),
    ]
    return Starlette(routes=routes)


def _operator_row(user: str, f: dict) -> str:
    rate = "-" if f["tip_hit_rate"] is None else f"{100 * f['tip_hit_rate']:.0f} %"
    cells = (escape(user), f["decisions"], f["mean_decision_s"] or "-", f["timeouts"], f["tips"], f["tip_hits"], rate)
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _lane_row(b: dict) -> str:
    lane = escape(b["lane_id"])
    modes = "".join(f"<option{' selected' if m == b['mode'] else ''}>{m}</option>" for m in MODES)
    return (f"<tr data-lane='{lane}'><td>{lane}</td><td>{b['state']}</td><td>{b['scans_per_minute']}</td>"
            f"<td><select class='mode'>{modes}</select></td>"
            f"<td><input class='tip' type='number' min='0' max='1' step='0.05' value='{b['tip_rate']:g}'></td>"
            f"<td><button class='save'>save</button></td></tr>")


def _xyxy(detection: dict) -> list[float]:
    b = detection["box"]
    return [b["x1"], b["y1"], b["x2"], b["y2"]]


def feed(console: Console, consumer, stop: threading.Event, *, deadline_s: Callable[[str], float]) -> None:
    """The feeder: alerts from the topic into the queue (idempotent), committed once queued."""
    while not stop.is_set():
        batch = consumer.poll_batch(timeout_ms=200)
        for record in batch:
            try:
                alert = record.meta(Alert)
            except ValueError as err:
                log.warning("unreadable alert at %s[%d]@%d: %s", record.topic, record.partition, record.offset, err)
                continue
            console.desk.enqueue(alert, deadline_s=deadline_s(alert.lane_id))
        if batch:
            consumer.commit(batch)


def sweep(console: Console, stop: threading.Event, *, every_s: float = 0.5) -> None:
    """The sweeper: scans past their deadline become UNKNOWN."""
    while not stop.wait(every_s):
        try:
            console.timeout_due()
        except Exception:  # keep sweeping: Redis or the broker may be back on the next round
            log.exception("deadline sweep failed")
