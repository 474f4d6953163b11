"""What SES and SNS have sent, read from moto's model records, as JSON and as a page.

moto records sent email (`ses.Message`, `ses.RawMessage`, `ses.TemplateMessage`), SMS
(`sns.SMS`) and topic notifications (`sns.Topic` → `sent_notifications`) but not when they
were sent. The outbox stamps each item the first time it sees one and looks again shortly
after every invocation, so the stamp is within a fraction of a second of the send.

moto runs in this process (the stack starts its server on a thread), so the records are read
the way its dashboard's `/moto-api/data.json` builds them, but for SES and SNS only: that
endpoint walks every model moto ever created, every DynamoDB item included, which made
each look cost time proportional to everything written so far (quadratic under a burst).
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import threading
import time
from datetime import UTC, datetime
from html import escape

REFRESH_AT_MOST_EVERY_SECONDS = 0.5  # a look walks every email and notification; not per invocation
_HTML_TAG = re.compile(r"<[a-zA-Z!/][^>]*>")


class Outbox:
    """Emails, SMS and topic notifications recorded by moto, newest first."""

    def __init__(self, moto_url: str) -> None:
        self.moto_url = moto_url
        self._seen: dict[str, str] = {}  # item id -> first-seen timestamp
        self._lock = threading.Lock()
        self._kicked = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="outbox", daemon=True)

    def snapshot(self) -> dict:
        """Read moto now: {"emails": [...], "sms": [...], "notifications": [...]}."""
        ses, sns = _moto_records("ses"), _moto_records("sns")
        emails = [_simple_email(m) for m in ses.get("Message", [])]
        emails += [_raw_email(m) for m in ses.get("RawMessage", [])]
        emails += [_template_email(m) for m in ses.get("TemplateMessage", [])]
        sms = [
            {"id": m["message_id"], "number": m["phone_number"], "message": m["message"]}
            for m in sns.get("SMS", [])
        ]
        notifications = [
            {
                "id": message_id,
                "topic_arn": topic["arn"],
                "subject": subject,
                "message": message,
                "attributes": attributes or {},
            }
            for topic in sns.get("Topic", [])
            for message_id, message, subject, attributes, *_ in topic.get("sent_notifications", [])
        ]
        with self._lock:
            now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            for kind in (emails, sms, notifications):
                for item in kind:
                    item["timestamp"] = self._seen.setdefault(item["id"], now)
        return {
            "emails": _newest_first(emails),
            "sms": _newest_first(sms),
            "notifications": _newest_first(notifications),
        }

    # ---- stamping in the background -----------------------------------------------------------

    def kick(self) -> None:
        self._kicked.set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._kicked.set()
        self._thread.join(timeout=5)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            self._kicked.wait()
            if self._stopping.wait(REFRESH_AT_MOST_EVERY_SECONDS):
                return
            self._kicked.clear()
            try:
                self.snapshot()
            except (RuntimeError, KeyError, AttributeError):
                # moto changed a record while it was read (it runs on other threads): next kick.
                time.sleep(0.1)


def _moto_records(service: str) -> dict[str, list[dict]]:
    """One service's part of moto's data.json: each tracked model's JSON-able public attributes."""
    from moto.core.model_instances import model_data

    records: dict[str, list[dict]] = {}
    for name, model in list(model_data.get(service, {}).items()):
        rows = []
        for instance in list(model.instances_tracked):
            row = {}
            for attribute in dir(instance):
                if attribute.startswith("_"):
                    continue
                try:
                    value = getattr(instance, attribute)
                    json.dumps(value)
                except (TypeError, AttributeError, ValueError):
                    continue
                row[attribute] = value
            rows.append(row)
        records[name] = rows
    return records


def _newest_first(items: list[dict]) -> list[dict]:
    """By first-seen time; items seen together keep moto's order, reversed."""
    return sorted(reversed(items), key=lambda item: item["timestamp"], reverse=True)


def _simple_email(message: dict) -> dict:
    body = message.get("body") or ""
    # With both Text and Html, moto keeps only the HTML part.
    is_html = bool(_HTML_TAG.search(body))
    destinations = message.get("destinations") or {}
    return {
        "id": message["id"],
        "kind": "simple",
        "from": message.get("source"),
        "to": destinations.get("ToAddresses", []),
        "cc": destinations.get("CcAddresses", []),
        "bcc": destinations.get("BccAddresses", []),
        "subject": message.get("subject"),
        "html": body if is_html else None,
        "text": None if is_html else body,
    }


def _raw_email(message: dict) -> dict:
    parsed = email.message_from_string(message.get("raw_data") or "", policy=email.policy.default)
    parts = {}
    for subtype in ("plain", "html"):
        part = parsed.get_body(preferencelist=(subtype,))
        parts[subtype] = (
            part.get_content() if part is not None and part.get_content_subtype() == subtype else None
        )
    return {
        "id": message["id"],
        "kind": "raw",
        "from": parsed.get("From") or message.get("source"),
        "to": list(dict.fromkeys(message.get("destinations") or [])),  # moto lists each recipient twice
        "cc": [],
        "bcc": [],
        "subject": parsed.get("Subject"),
        "html": parts["html"],
        "text": parts["plain"],
    }


def _template_email(message: dict) -> dict:
    destinations = message.get("destinations") or {}
    return {
        "id": message["id"],
        "kind": "template",
        "from": message.get("source"),
        "to": destinations.get("ToAddresses", []),
        "cc": destinations.get("CcAddresses", []),
        "bcc": destinations.get("BccAddresses", []),
        "subject": f"template {message.get('template')}",
        "html": None,
        "text": json.dumps(message.get("template_data"), indent=2),
    }


# ---- the page -------------------------------------------------------------------------------------

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem;border-bottom:1px solid #ddd}
.mail{border:1px solid #ddd;border-radius:6px;margin:1rem 0;padding:.75rem 1rem}
.meta{color:#555;font-size:.9em}.meta b{color:#222}
iframe{width:100%;height:22rem;border:1px solid #eee;background:#fff}
pre{white-space:pre-wrap;background:#f7f7f7;padding:.5rem;border-radius:4px}
table{border-collapse:collapse;width:100%}
td,th{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #eee}
.empty{color:#888}
"""


def render_html(snapshot: dict) -> str:
    """The outbox as a page. Email HTML is shown in sandboxed iframes: no scripts, no navigation."""
    mails = "".join(_mail_html(m) for m in snapshot["emails"]) or '<p class="empty">No email sent yet.</p>'
    sms_rows = "".join(
        f"<tr><td>{escape(s['timestamp'])}</td><td>{escape(s['number'])}</td><td>{escape(s['message'])}</td></tr>"
        for s in snapshot["sms"]
    )
    notification_rows = "".join(
        f"<tr><td>{escape(n['timestamp'])}</td><td>{escape(n['topic_arn'].rsplit(':', 1)[-1])}</td>"
        f"<td>{escape(n['subject'] or '')}</td><td><pre>{escape(n['message'])}</pre></td>"
        f"<td><pre>{escape(json.dumps(n['attributes'], indent=1))}</pre></td></tr>"
        for n in snapshot["notifications"]
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Outbox - Homeward local</title>
<style>{_STYLE}</style></head>
<body>
<h1>Outbox</h1>
<p class="meta">What the functions sent through SES and SNS (recorded by moto; nothing leaves this machine).
<a href="/_local/outbox.html">Refresh</a> · <a href="/_local/outbox">JSON</a>
· <a href="/_local/">Local stack</a></p>
<h2>Email ({len(snapshot["emails"])})</h2>
{mails}
<h2>SMS ({len(snapshot["sms"])})</h2>
{_table(["Time", "To", "Message"], sms_rows, "No SMS sent yet.")}
<h2>Topic notifications ({len(snapshot["notifications"])})</h2>
{_table(["Time", "Topic", "Subject", "Message", "Attributes"], notification_rows, "Nothing published yet.")}
</body></html>"""


def _mail_html(mail: dict) -> str:
    recipients = ", ".join(mail["to"] + mail["cc"] + mail["bcc"])
    parts = []
    if mail["html"]:
        # srcdoc is an attribute: escape() makes the document a safe attribute value; the
        # empty sandbox forbids scripts, forms, plugins and navigating this page.
        parts.append(f'<iframe sandbox="" srcdoc="{escape(mail["html"], quote=True)}"></iframe>')
    if mail["text"]:
        parts.append(f"<pre>{escape(mail['text'])}</pre>")
    return (
        f'<div class="mail"><div class="meta"><b>{escape(mail["subject"] or "(no subject)")}</b><br>'
        f"From {escape(mail['from'] or '')} to {escape(recipients)} · {escape(mail['timestamp'])}</div>"
        f"{''.join(parts)}</div>"
    )


def _table(columns: list[str], rows: str, empty: str) -> str:
    if not rows:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
