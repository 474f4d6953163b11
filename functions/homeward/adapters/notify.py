"""Sending: email through SES v2 (raw MIME: HTML + text, List-Unsubscribe headers for one-click
unsubscribe, RFC 8058) and SMS through SNS to an E.164 number (transactional).

Errors come back as the domain's two kinds (`domain.notification_service`): `SendThrottled`
(SES/SNS throttling or a service error: the caller retries with backoff) and `SendRejected`
(the address or number was refused: recorded, never retried).
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from botocore.exceptions import BotoCoreError, ClientError

from homeward.adapters.aws import client
from homeward.domain.notifications.service import SendRejected, SendThrottled

_THROTTLED = {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException"}
_TRANSIENT = _THROTTLED | {"InternalFailure", "ServiceUnavailable", "InternalError"}


def _translate(exc: ClientError | BotoCoreError) -> Exception:
    if isinstance(exc, BotoCoreError):
        return SendThrottled(type(exc).__name__)
    code = exc.response.get("Error", {}).get("Code", "")
    if code in _TRANSIENT:
        return SendThrottled(code)
    return SendRejected(code or "rejected", exc.response.get("Error", {}).get("Message", ""))


def build_email(
    *, sender: str, sender_name: str, to: str, subject: str, html: str, text: str, unsubscribe_url: str
) -> bytes:
    """The MIME message: text and HTML alternatives, one-click unsubscribe headers."""
    # Folded at RFC 5322's hard limit (998), not 78: the default policy would fold a long
    # List-Unsubscribe URL into encoded words, which mail clients do not turn back into a link.
    message = EmailMessage(policy=policy.SMTP.clone(max_line_length=998))
    message["From"] = formataddr((sender_name, sender))
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message.as_bytes()


def send_email(*, sender: str, to: str, raw: bytes, configuration_set: str | None = None) -> str:
    """One email through SES v2; its message id."""
    kwargs = {
        "FromEmailAddress": sender,
        "Destination": {"ToAddresses": [to]},
        "Content": {"Raw": {"Data": raw}},
    }
    if configuration_set:
        kwargs["ConfigurationSetName"] = configuration_set
    try:
        return client("sesv2").send_email(**kwargs)["MessageId"]
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc) from exc


def send_sms(*, phone: str, text: str, sender_id: str | None = None) -> str:
    """One transactional SMS through SNS; its message id."""
    attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
    if sender_id:
        attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": sender_id}
    try:
        return client("sns").publish(PhoneNumber=phone, Message=text, MessageAttributes=attributes)[
            "MessageId"
        ]
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc) from exc


def sms_opted_out(phone: str) -> bool:
    """Whether the number is on the account's SMS opt-out list (the shopper replied STOP)."""
    try:
        return bool(client("sns").check_if_phone_number_is_opted_out(phoneNumber=phone)["isOptedOut"])
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc) from exc
