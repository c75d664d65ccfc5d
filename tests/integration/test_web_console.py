"""The web console in a real headless Chromium, against the real broker protocol, a real Redis and the alert service.

Detections go in as the detect service sends them; the alert service raises the alerts; the console's feeder
queues them; operators (browser pages) log in, claim, look and decide; the decisions come back through
`lanewatch.alerts.acks` and the alert service into the alert's Redis history.
"""

import json
import os
import shutil
import socket
import uuid

import cv2
import numpy as np
import pytest

from pipeline.kafka import Consumer, Producer
from pipeline.messages import Ack, alert_id_for
from pipeline.state import RedisLaneStateStore
from services.alert import AlertSettings, make_stage
from services.runner import Topics, serve
from services.web.desk import Desk
from services.web.server import WebConsole
from tests.integration.helpers import FAST, detections, drain, running, until

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("LANEWATCH_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "correct-horse-9"
# Redis keys of their own, as a second pipeline on a shared Redis would have: the session's stack also holds other
# tests' alerts, some recorded without ever being published, which this alert service's outbox would send here
NAMESPACE = f"lw-web-{uuid.uuid4().hex[:6]}"
SCAN_W, SCAN_H = 640, 400


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM}: the Makefile installs Debian's chromium (make browser)")
        pytest.skip(f"no Chromium at {CHROMIUM} (make browser installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=shutil.which(CHROMIUM), args=FLAGS)
        yield b
        b.close()


@pytest.fixture()
def store(stack):
    """The lane store under this module's namespace (overrides the shared one)."""
    s = RedisLaneStateStore.from_url(stack.redis_url, namespace=NAMESPACE)
    yield s
    s.close()


@pytest.fixture(scope="module")
def site(stack):
    """The alert service and one web console on topics of their own; deadlines of 60 s (lane-slow: 3 s)."""
    prefix = f"it-web-{uuid.uuid4().hex[:6]}"
    topics = Topics.prefixed(prefix)
    settings = AlertSettings(kafka_bootstrap=stack.kafka_bootstrap, redis_url=stack.redis_url, topic_prefix=prefix,
                             group_id=f"{prefix}-g", scan_wait_s=30, redis_namespace=NAMESPACE, **FAST)
    deadlines = {"slow": 3.0}
    web = WebConsole(bootstrap=stack.kafka_bootstrap, redis_url=stack.redis_url, topics=topics, port=_free_port(),
                     deadline_s=lambda lane: deadlines.get(lane.split("-")[0], 60.0), from_beginning=True,
                     consumer_config={"session_timeout_ms": 3000, "heartbeat_interval_ms": 300}, namespace=NAMESPACE)
    desk = Desk.from_url(stack.redis_url, namespace=NAMESPACE)
    for name, role in (("ana", "screener"), ("ben", "screener"), ("sue", "supervisor")):
        desk.add_user(name, PASSWORD, role)
    with running(serve, make_stage(settings), settings), web, Producer(stack.kafka_bootstrap) as producer:
        yield web, topics, producer, desk


def _scan_png() -> bytes:
    """A grey scan with a dark object: what the crop service would have kept."""
    img = np.full((SCAN_H, SCAN_W, 3), 235, np.uint8)
    cv2.rectangle(img, (300, 150), (420, 260), (90, 60, 40), -1)
    return cv2.imencode(".png", img)[1].tobytes()


def _raise_alert(site, store, lane: str, seq: int = 0, label: str = "gun") -> str:
    web, topics, producer, _ = site
    record = detections(lane, seq, labels=[label], score=0.9)
    store.put_scan_image(record.scan_id, "top", _scan_png(), ttl_s=600)
    producer.publish(topics.detections, record)
    producer.flush()
    return alert_id_for(record.scan_id)


def _login(browser, web, user: str, password: str = PASSWORD):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{web.url}/login")
    page.fill("#user", user)
    page.fill("#password", password)
    page.click("#submit")
    return page


def _acks(stack, topics, alert_id: str, n: int = 1) -> list[Ack]:
    with Consumer(stack.kafka_bootstrap, [topics.acks], group_id=None) as c:
        records = drain(c, lambda got: sum(r.meta(Ack).alert_id == alert_id for r in got) >= n, timeout_s=20)
    return [a for r in records if (a := r.meta(Ack)).alert_id == alert_id]


def test_wrong_password_is_refused_and_screeners_cannot_open_supervisor_pages(browser, site):
    web = site[0]
    page = _login(browser, web, "ana", "not-the-password")
    assert page.url.endswith("/login")
    assert "wrong user name or password" in page.inner_text("#message")
    page = _login(browser, web, "ana")
    assert page.url.endswith("/console")
    cookie = next(c for c in page.context.cookies() if c["name"] == "lw_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.goto(f"{web.url}/supervisor").status == 403
    # a state change without the CSRF token is refused even with a valid session cookie
    assert page.request.post(f"{web.url}/api/next").status == 403
    sue = _login(browser, web, "sue")
    assert sue.goto(f"{web.url}/supervisor").status == 200
    assert "Audit log" in sue.inner_text("body")


def test_an_alert_appears_live_is_shown_with_its_boxes_and_decisions_reach_the_topic_and_redis(browser, site, store, stack):
    web, topics, _, _ = site
    page = _login(browser, web, "ana")
    page.wait_for_selector("#live:text('live')")
    lane = f"lane-{uuid.uuid4().hex[:6]}"
    alert_ids = [_raise_alert(site, store, lane, seq) for seq in range(6)]
    for a in alert_ids:  # without a reload
        page.wait_for_selector(f"#queue li[data-alert-id='{a}']", timeout=20_000)

    # the review screen: the scan, and the detector's box drawn where the detection says
    page.click(f"#queue li[data-alert-id='{alert_ids[0]}']")
    page.wait_for_function("window.lw.image && window.lw.image.complete && window.lw.current")
    page.fill("#zoom", "100")
    canvas = page.locator("#scan")
    shown = cv2.imdecode(np.frombuffer(canvas.screenshot(), np.uint8), cv2.IMREAD_COLOR)
    scale = shown.shape[1] / SCAN_W
    magenta = (shown[:, :, 2] > 200) & (shown[:, :, 0] > 200) & (shown[:, :, 1] < 80)
    magenta[: int(19 * scale)] = False  # the label is written above the box
    ys, xs = np.nonzero(magenta)
    # the box of `detections(...)` for one label: (10, 20) - (40, 60) in scan pixels
    assert ys.min() / scale == pytest.approx(20, abs=3)
    assert xs.min() / scale == pytest.approx(10, abs=3) and xs.max() / scale == pytest.approx(40, abs=3)
    assert ys.max() / scale == pytest.approx(60, abs=3)
    assert magenta[int(40 * scale), int(10 * scale) - 1: int(10 * scale) + 3].any()  # the left edge at mid height
    page.keyboard.press("b")  # boxes off: no magenta left
    off = cv2.imdecode(np.frombuffer(canvas.screenshot(), np.uint8), cv2.IMREAD_COLOR)
    assert not ((off[:, :, 2] > 200) & (off[:, :, 0] > 200) & (off[:, :, 1] < 80)).any()

    # CLEAR by button, SEARCH and ESCALATE by keyboard
    page.click("#clear")
    page.wait_for_selector("#status:has-text('CLEAR sent')")
    page.keyboard.press("n")
    page.wait_for_function(f"window.lw.current && window.lw.current.alert_id === '{alert_ids[1]}'")
    page.keyboard.press("s")
    page.wait_for_selector("#status:has-text('SEARCH sent')")
    page.keyboard.press("n")
    page.wait_for_function(f"window.lw.current && window.lw.current.alert_id === '{alert_ids[2]}'")
    page.keyboard.press("e")
    page.wait_for_selector("#status:has-text('ESCALATE sent')")
    # and the other way round: CLEAR by keyboard, SEARCH and ESCALATE by button
    for alert_id, verdict, act in zip(alert_ids[3:], ("clear", "search", "escalate"),
                                      (lambda: page.keyboard.press("c"), lambda: page.click("#search"),
                                       lambda: page.click("#escalate")), strict=True):
        page.click("#next")
        page.wait_for_function(f"window.lw.current && window.lw.current.alert_id === '{alert_id}'")
        act()
        page.wait_for_selector(f"#status:has-text('{verdict.upper()} sent for {alert_id}')")

    for alert_id, verdict, state in zip(alert_ids, ("clear", "search", "escalate") * 2,
                                        ("cleared", "searched", "escalated") * 2, strict=True):
        (ack,) = _acks(stack, topics, alert_id)
        assert (ack.decision, ack.operator) == (verdict, "ana")
        until(lambda a=alert_id, s=state: (r := store.alert(a)) is not None and r.state == s, what=f"{alert_id} {state}")
        assert [(h.decision, h.operator) for h in store.alert(alert_id).history] == [(verdict, "ana")]
    assert "look at: gun top [10, 20, 40, 60]" in _acks(stack, topics, alert_ids[1])[0].note


def test_two_operators_racing_for_one_scan_exactly_one_gets_it(browser, site, store):
    web, desk = site[0], site[3]
    ana, ben = _login(browser, web, "ana"), _login(browser, web, "ben")
    alert_id = _raise_alert(site, store, f"lane-{uuid.uuid4().hex[:6]}")
    for page in (ana, ben):
        page.wait_for_selector(f"#queue li[data-alert-id='{alert_id}']", timeout=20_000)
    # both claims are sent before either answer is read: two requests in flight at once
    start = """id => { window.race = fetch(`/api/alerts/${id}/claim`, {method: 'POST', headers: {'X-CSRF-Token':
        document.querySelector('meta[name=csrf]').content}}).then(r => r.status); }"""
    for page in (ana, ben):
        page.evaluate(start, alert_id)
    statuses = {name: page.evaluate("window.race") for name, page in (("ana", ana), ("ben", ben))}
    assert sorted(statuses.values()) == [200, 409]
    winner = next(name for name, status in statuses.items() if status == 200)
    assert desk.item(alert_id)["claimed_by"] == winner
    # the loser cannot decide it either
    loser = ben if winner == "ana" else ana
    status = loser.evaluate("""id => fetch(`/api/alerts/${id}/decision`, {method: 'POST', headers: {'X-CSRF-Token':
        document.querySelector('meta[name=csrf]').content, 'Content-Type': 'application/json'},
        body: JSON.stringify({decision: 'clear', reason: 'benign-explained'})}).then(r => r.status)""", alert_id)
    assert status == 409


def test_a_scan_past_its_deadline_becomes_unknown_and_is_escalated(browser, site, store, stack):
    web, topics, _, desk = site
    page = _login(browser, web, "ana")
    lane = f"slow-{uuid.uuid4().hex[:6]}"  # 3 s deadline
    alert_id = _raise_alert(site, store, lane)
    page.wait_for_selector(f"#queue li[data-alert-id='{alert_id}']", timeout=20_000)
    page.click(f"#queue li[data-alert-id='{alert_id}']")
    page.wait_for_selector("#status:has-text('UNKNOWN')", timeout=15_000)
    assert page.locator(f"#queue li[data-alert-id='{alert_id}']").count() == 0
    (ack,) = _acks(stack, topics, alert_id)
    assert (ack.decision, ack.operator) == ("unknown", "deadline")
    until(lambda: (r := store.alert(alert_id)) is not None and r.state == "unknown", what="unknown in Redis")
    assert alert_id in store.lane(lane).open_alerts  # never a silent clear: it stays open for a supervisor
    # too late to decide now
    status = page.evaluate("""id => fetch(`/api/alerts/${id}/decision`, {method: 'POST', headers: {'X-CSRF-Token':
        document.querySelector('meta[name=csrf]').content, 'Content-Type': 'application/json'},
        body: JSON.stringify({decision: 'clear', reason: 'benign-explained'})}).then(r => r.status)""", alert_id)
    assert status == 409
    sue = _login(browser, web, "sue")
    sue.goto(f"{web.url}/supervisor")
    assert alert_id in sue.inner_text("#unknown")
    metrics = page.request.get(f"{web.url}/metrics").text()
    (line,) = [ln for ln in metrics.splitlines() if ln.startswith("lanewatch_console_unknown_total ")]
    assert float(line.split()[1]) >= 1
    assert desk.operator_figures()["ana"]["timeouts"] >= 1


def test_a_browser_that_reconnects_gets_the_alerts_it_missed(browser, site, store):
    web = site[0]
    page = _login(browser, web, "ben")
    page.wait_for_selector("#live:text('live')")
    page.evaluate("window.lw.disconnect()")
    lane = f"lane-{uuid.uuid4().hex[:6]}"
    missed = [_raise_alert(site, store, lane, seq) for seq in range(2)]
    until(lambda: all(site[3].item(a) is not None for a in missed), what="alerts queued")
    assert all(page.locator(f"#queue li[data-alert-id='{a}']").count() == 0 for a in missed)
    page.evaluate("window.lw.reconnect()")
    for a in missed:
        page.wait_for_selector(f"#queue li[data-alert-id='{a}']", timeout=10_000)
    seen = page.evaluate("window.lw.seen.filter(e => e.kind === 'queued').map(e => e.id)")
    assert all(seen.count(a) == 1 for a in missed)


def _bag_png() -> bytes:
    """A scan with one large bag (an orange-brown body with blue-green items) on a white belt."""
    img = np.full((SCAN_H, SCAN_W, 3), 250, np.uint8)
    cv2.rectangle(img, (120, 60), (520, 340), (90, 150, 215), -1)  # BGR: organic orange
    cv2.rectangle(img, (200, 120), (300, 200), (120, 110, 40), -1)  # a metal-blue item
    return cv2.imencode(".png", img)[1].tobytes()


def _clean_scan(site, store, lane: str, seq: int) -> str:
    """A clean scan recorded by the alert service (no alert), its image kept as the crop service keeps it."""
    _, topics, producer, _ = site
    record = detections(lane, seq, labels=[])
    store.put_scan_image(record.scan_id, "top", _bag_png(), ttl_s=600)
    producer.publish(topics.detections, record)
    producer.flush()
    return alert_id_for(record.scan_id)


def _decide_in_page(page, alert_id: str, verdict: str):
    page.click(f"#queue li[data-alert-id='{alert_id}']")
    page.wait_for_function(f"window.lw.current && window.lw.current.alert_id === '{alert_id}' && window.lw.image "
                           "&& window.lw.image.complete")
    page.keyboard.press(verdict[0])
    page.wait_for_selector(f"#status:has-text('{verdict.upper()} sent')")
    return page.evaluate("window.lw.lastTip")


def test_tip_scans_carry_a_projected_threat_and_give_feedback_and_figures(browser, site, store, stack):
    web, topics, _, desk = site
    lane = f"tip-{uuid.uuid4().hex[:6]}"
    first = _clean_scan(site, store, lane, 0)  # gives the lane a row on the supervisor page
    until(lambda: store.is_done(first.removeprefix("al-")), what="first scan recorded")
    sue = _login(browser, web, "sue")
    sue.goto(f"{web.url}/supervisor")
    row = sue.locator(f"#lanes tr[data-lane='{lane}']")
    row.locator(".tip").fill("1")
    row.locator(".save").click()
    sue.wait_for_selector(f"#saved:has-text('{lane}: alarms, TIP 1')")
    assert desk.lane_settings(lane) == {"mode": "alarms", "tip_rate": 1.0}

    carl = f"carl-{uuid.uuid4().hex[:4]}"
    desk.add_user(carl, PASSWORD, "screener")
    page = _login(browser, web, carl)
    tips = [_clean_scan(site, store, lane, seq) for seq in (1, 2)]
    for a in tips:
        page.wait_for_selector(f"#queue li[data-alert-id='{a}']", timeout=20_000)
        # the projection is served, not the clean scan, and its truth is not in what the browser got
        shown = page.request.get(f"{web.url}/api/alerts/{a}/image").body()
        assert shown != _bag_png() and desk.tip_truth(a) is not None
        assert "label" not in json.dumps(desk.item(a)) and desk.item(a)["alert"]["detections"] == []
    missed = _decide_in_page(page, tips[0], "clear")
    found = _decide_in_page(page, tips[1], "search")
    assert missed["message"] == "missed projected threat" and missed["hit"] is False
    assert found["message"] == "projected threat: well found" and found["hit"] is True
    assert found["label"] == desk.tip_truth(tips[1])["label"] and len(found["box"]) == 4
    assert page.inner_text("#feedback").startswith("projected threat: well found")
    # TIPs never leave the console: nothing on the acks topic, no alert record
    with Consumer(stack.kafka_bootstrap, [topics.acks], group_id=None) as c:
        acks = [r.meta(Ack).alert_id for r in drain(c, 10_000, timeout_s=2)]
    assert not set(tips) & set(acks) and all(store.alert(a) is None for a in tips)
    figures = desk.operator_figures()[carl]
    assert (figures["tips"], figures["tip_hits"], figures["tip_hit_rate"]) == (2, 1, 0.5)
    sue.goto(f"{web.url}/supervisor")
    row = next(line for line in sue.inner_text("#operators").splitlines() if line.startswith(carl))
    assert row.split("\t")[4:] == ["2", "1", "50 %"]


def test_a_review_all_lane_shows_clean_scans_and_the_lane_board_counts_them(browser, site, store):
    web, _, _, desk = site
    lane = f"all-{uuid.uuid4().hex[:6]}"
    desk.set_lane(lane, mode="all", by="test")
    page = _login(browser, web, "ben")
    clean = _clean_scan(site, store, lane, 0)
    page.wait_for_selector(f"#queue li[data-alert-id='{clean}']", timeout=20_000)
    assert "review" in page.inner_text(f"#queue li[data-alert-id='{clean}']")
    page.wait_for_selector(f"#lanes tr[data-lane='{lane}']", timeout=10_000)
    cells = page.locator(f"#lanes tr[data-lane='{lane}'] td").all_inner_texts()
    assert cells[0] == lane and int(cells[2]) >= 1 and cells[-1].startswith("all")
    # organic only: the blue item is washed out, the orange bag stays
    page.click(f"#queue li[data-alert-id='{clean}']")
    page.wait_for_function("window.lw.image && window.lw.image.complete && window.lw.current")
    page.keyboard.press("o")
    shot = cv2.imdecode(np.frombuffer(page.locator("#scan").screenshot(), np.uint8), cv2.IMREAD_COLOR)
    s = shot.shape[1] / SCAN_W
    item, bag = shot[int(160 * s), int(250 * s)], shot[int(300 * s), int(450 * s)]
    assert item.min() > 240 and bag[2] > 180 and bag[0] < 140  # BGR: the bag still orange
    page.keyboard.press("c")
    page.wait_for_selector("#status:has-text('CLEAR sent')")
    assert desk.item(clean)["state"] == "decided" and desk.item(clean)["decided_by"] == "ben"

