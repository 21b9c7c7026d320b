"""What people write in the sample's survey comments.

A comment is composed from clauses (what went well or wrong, what it cost them, a closing
word) chosen by the comment's own tone and the ticket's fate (a slow fix, a late reply, a
reopen, an escalation, a phone queue), with the engineer's name and the thing that broke
filled in, and the punctuation and casing people really use. The comment's tone is drawn
next to the rating, not from it: mostly they agree, but a satisfied customer sometimes
grumbles, an unhappy one praises the engineer, a few write sarcasm ("great, broken again")
or complaints without an emotional word ("logged it Monday, fixed Thursday"). So a word
list alone misreads many of them, and a model trained on the ratings has something to learn.
"""

from __future__ import annotations

import numpy as np

# A comment's tone: its own mood (the rating's mood plus this much noise), on the rating's cut-offs.
TONE_NOISE = 0.4
CONTRARY_SHARE = 0.01  # written in the opposite tone to the rating (misclicks, old grudges)
TYPO_SHARE = 0.03

# What broke, by ticket subcategory ("it" when unnamed).
THINGS = {
    "Outlook": "Outlook", "Shared mailbox": "the shared mailbox", "Phishing": "the dodgy email",
    "Mailbox": "my mailbox", "Password reset": "my password", "MFA": "MFA",
    "New starter": "the new starter's setup", "Leaver": "the leaver's account",
    "Permissions": "my access", "Laptop": "my laptop", "Peripherals": "my screen",
    "Printer": "the printer", "Scanner": "the scanner", "Wi-Fi": "the wifi", "VPN": "the VPN",
    "Internet": "the internet", "Line-of-business app": "the practice software",
    "Microsoft 365": "Teams calls", "Install request": "the install", "Shared drive": "the shared drive",
    "Restore": "the restore", "Voice": "the desk phone",
}

NUMBERS = ("two", "three", "four", "2", "3", "5")
HOURS = ("two", "three", "four", "5", "6", "24")
MINUTES = ("20", "25", "30", "40", "45", "50")

# fmt: off
POSITIVE = {
    "speed": (
        "sorted in minutes", "fixed within the hour", "quick turnaround", "really fast response",
        "{name} was on it straight away", "back up and running in no time",
        "fixed before I'd finished my coffee", "same day fix", "the remote session was quick and painless",
        "picked up on the first ring", "answered my email within ten minutes",
    ),
    "outcome": (
        "{thing} works perfectly now", "problem fixed first time", "all working again",
        "no problems since", "not had a single issue since", "{thing} is back to normal",
        "everything works as it should", "sorted it properly this time",
    ),
    "person": (
        "{name} was patient and clear", "{name} explained what went wrong", "very friendly and helpful",
        "polite and professional as always", "{name} kept me updated the whole way",
        "{name} knew exactly what to do", "{name} went above and beyond",
        "lovely to deal with",
    ),
    "closer": (
        "thank you!", "thanks {name}", "cheers", "much appreciated", "great service", "10/10",
        "brilliant", "no complaints", "keep it up", "can't fault it", "couldn't ask for more",
        "spot on", "top job",
    ),
}

NEUTRAL = {
    "outcome": (
        "fixed in the end", "sorted eventually", "it works now", "got there eventually", "resolved",
        "{thing} is working now", "done", "fine", "ok", "does the job", "all good now I think",
        "working for now", "seems ok",
    ),
    "but": (
        "took a bit longer than I hoped", "had to chase once", "not sure what the cause was",
        "the first fix didn't stick", "a few back and forth emails", "communication could be better",
        "would have liked an update sooner", "had to explain it twice", "took a couple of days",
        "had to wait a while for a callback", "a bit slow to get going", "not the quickest",
    ),
}

NEGATIVE = {
    "slow": (
        "took {days} days to fix {thing}", "{days} days without {thing}",
        "{thing} was down for {days} days and I couldn't work", "waited all week for a fix",
        "way too slow", "logged it on Monday, fixed on Thursday", "still waiting on a proper fix",
        "far too long for something so simple", "{days} days for a five minute job",
        "it took ages",
    ),
    "late": (
        "nobody got back to me for {hours} hours", "no reply until the next day",
        "{hours} hours before anyone even looked at it", "no acknowledgement for a whole day",
        "had to call twice before anyone picked up", "my email sat unanswered all morning",
    ),
    "queue": (
        "on hold for {minutes} minutes", "stuck in the phone queue for ages",
        "{minutes} minutes in the queue before I got through", "kept on hold, then cut off",
    ),
    "reopened": (
        "{thing} broke again the next day", "same problem again a day later",
        "third time I've logged this", "the fix didn't last", "had to call back, it came back",
        "still not working properly", "this keeps happening", "reopened twice already",
        "second time this month",
    ),
    "escalated": (
        "passed between three different people", "had to explain it again to someone else",
        "bounced around between engineers", "got escalated and then nothing happened",
        "every new tech started from scratch",
    ),
    "closed": (
        "closed the ticket without checking with me", "marked it resolved before it was fixed",
        "the ticket was closed while I was still waiting",
    ),
    "updates": (
        "no updates at all", "nobody told me what was going on", "kept in the dark for days",
        "I had to chase for every update", "never heard back",
    ),
    "attitude": (
        "the engineer was dismissive", "felt talked down to", "not very helpful on the phone",
        "rude when I called",
    ),
    "general": (
        "not happy with how this was handled", "poor service this time", "not good enough",
        "really disappointing", "expected better", "this used to be much better",
        "unacceptable for something we rely on",
    ),
    # Topics the theme vocabulary does not know yet: they show up as "uncovered" phrases.
    "uncovered": (
        "the portal never shows the status", "nobody picks up out of hours",
        "the remote session kept dropping", "the portal said resolved but nobody called",
    ),
    "sarcasm": (
        "great, broken again", "thanks for nothing", "brilliant, another day lost",
        "love waiting {days} days for {thing}", "fantastic, still not fixed",
    ),
    "impact": (
        "I couldn't work", "the whole team was stuck", "we lost a morning of appointments",
        "I missed a deadline", "had to work from my phone",
    ),
    "demand": (
        "please sort it properly", "not acceptable", "this needs to improve", "please do better",
    ),
}
# fmt: on

TONES = ("positive", "neutral", "negative")


def comment_tone(mood: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The tone each comment is written in: the rating's mood plus noise, on the 3-point
    cut-offs, and a few written against the rating."""
    own = mood + rng.normal(0, TONE_NOISE, len(mood))
    tone = np.where(own > 0.2, 0, np.where(own > -0.4, 1, 2))
    contrary = rng.random(len(mood)) < CONTRARY_SHARE
    return np.where(contrary, 2 - tone, tone)


def compose(
    rng: np.random.Generator,
    tone: np.ndarray,
    fate: dict[str, np.ndarray],
    names: list[str | None],
    things: list[str],
) -> list[str]:
    """One comment per survey: `tone` 0 positive / 1 neutral / 2 negative, `fate` boolean
    arrays (slow, late, reopened, escalated, phone, degraded), the engineer's first name and
    the thing that broke. Every random number is drawn up front, so the stream is stable."""
    n = len(tone)
    u = rng.random((n, 14))
    out = []
    for i in range(n):
        fill = {"name": names[i] or "the engineer", "thing": things[i], **_numbers(u[i, 11])}
        if tone[i] == 0:
            parts = _positive(u[i])
        elif tone[i] == 1:
            parts = _neutral(u[i])
        else:
            parts = _negative(u[i], {k: bool(v[i]) for k, v in fate.items()})
        out.append(_finish(_fill(parts, fill), u[i, 10:14], tone[i]))
    return out


def _pick(pool: tuple[str, ...], x: float) -> str:
    return pool[int(x * len(pool)) % len(pool)]


def _positive(u: np.ndarray) -> list[str]:
    kinds = ("speed", "outcome", "person")
    first = kinds[int(u[0] * 3)]
    parts = [_pick(POSITIVE[first], u[1])]
    if u[2] < 0.45:
        second = kinds[(kinds.index(first) + 1 + int(u[3] * 2)) % 3]
        parts.append(_pick(POSITIVE[second], u[4]))
    if u[5] < 0.55 or u[2] > 0.9:
        parts.append(_pick(POSITIVE["closer"], u[6]))
    if u[2] > 0.9:
        parts = parts[-1:]  # just "Brilliant, thanks"
    return parts


def _neutral(u: np.ndarray) -> list[str]:
    outcome, but = _pick(NEUTRAL["outcome"], u[1]), _pick(NEUTRAL["but"], u[2])
    if u[0] < 0.3:
        return [outcome]
    if u[0] < 0.8:
        return [f"{outcome}, but {but}"]
    return [but]


def _negative(u: np.ndarray, fate: dict[str, bool]) -> list[str]:
    reasons = [k for k in ("slow", "late", "reopened", "escalated") if fate.get(k)]
    if fate.get("late") and fate.get("phone"):
        reasons.append("queue")
    if fate.get("reopened") and u[7] < 0.3:
        reasons.append("closed")
    if not reasons or u[8] < 0.25:
        reasons.append(("updates", "general", "general", "attitude", "uncovered")[int(u[9] * 5)])
    if fate.get("degraded") and u[9] < 0.3:
        reasons.append("general")
    first = reasons[int(u[0] * len(reasons))]
    if u[1] < 0.12:  # sarcasm reads positive to a word list
        parts = [_pick(NEGATIVE["sarcasm"], u[2])]
    else:
        parts = [_pick(NEGATIVE[first], u[2])]
    others = [r for r in reasons if r != first]
    if others and u[3] < 0.5:
        parts.append(_pick(NEGATIVE[others[int(u[4] * len(others))]], u[5]))
    if u[6] < 0.3:
        parts.append(_pick(NEGATIVE["impact"], u[4]))
    elif u[6] > 0.8:
        parts.append(_pick(NEGATIVE["demand"], u[5]))
    if u[7] > 0.93:  # praise for the person, complaint about the service
        parts.insert(0, _pick(POSITIVE["person"], u[6]) + " but")
    return parts


def _numbers(x: float) -> dict[str, str]:
    k = int(x * 6) % 6
    return {"days": NUMBERS[k], "hours": HOURS[k], "minutes": MINUTES[k]}


def _fill(parts: list[str], fill: dict[str, str]) -> str:
    text = ", ".join(p.rstrip("!") for p in parts[:-1]) + (", " if len(parts) > 1 else "") + parts[-1]
    for key, value in fill.items():
        text = text.replace("{" + key + "}", value)
    return text.replace(" but,", " but")


def _finish(text: str, u: np.ndarray, tone: int) -> str:
    """Casing and punctuation as people type them; now and then a typo."""
    x = u[0]
    if x < 0.62:
        text = text[0].upper() + text[1:]
        text += "" if text.endswith(("!", ".")) else "."
    elif x < 0.8:
        text = text.rstrip(".")
    elif x < 0.92:
        text = text[0].upper() + text[1:]
        text += "" if text.endswith("!") else ("!" if tone != 1 else ".")
    else:
        text = text[0].upper() + text[1:] + ("!!" if tone == 2 else ".")
    if u[2] < TYPO_SHARE:  # two letters swapped in one longer word
        words = text.split(" ")
        j = int(u[3] * len(words))
        if len(words[j]) > 4:
            w = words[j]
            words[j] = w[:2] + w[3] + w[2] + w[4:]
        text = " ".join(words)
    return text
