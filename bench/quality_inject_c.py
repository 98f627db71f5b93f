"""A third, independent defect injector for measuring the quality gate on defects it was never tuned on.

Written from the defect table of issue 36 only: nobody who wrote this file read the gate's code
(`src/anchortune/quality/`), the gate benchmark (`bench/quality_gate.py`), the other injectors
(`bench/quality_inject_b.py`) or the gate's tests. The defects imitate what a careless user slips into
a data set; every table below (synonyms, facts, foreign answers, bank answers, documents, people) was
written for this file.

    rows, codes, partners = inject_c(points, "text", rate=0.03, seed=0, shared=Path("../shared/datasets"))

`rows` are the clean rows plus the defects, renumbered 1..n in their final order; `codes` maps the
(final) line of every injected or modified row to its defect code; `partners` holds the (final) lines
of the original rows that an injected row copies or contradicts. Those originals carry no code: they
are clean on their own. A row is modified at most once, and an original that was copied is never
modified by another defect. Each defect type gets max(5, round(rate * len(points))) rows, so about
30 of each per 1,000 clean rows at the default rate 0.03. Injected rows are put at random places in
the file (about a quarter right after their original). Deterministic for a given seed.

Support answers (fmt="text"):

- near_duplicate: a new row asking an original's question in other words. The prompt goes through a
  phrase table written for shop support ("I want to" -> "I would like to", "cancel" -> "call off",
  "order" -> "purchase", "how do I get a refund" -> "what's the way to have my money returned",
  a frame put around bare commands and gerunds: "edit account" -> "I'd like to update my profile",
  sometimes a greeting or a "please"); at least two changes, and the word sets of the two prompts
  overlap by at most 60 % (Jaccard), so it is never a mere typo. The answer is the original's, kept
  as is (half the time) or with 2-4 words or phrases swapped for synonyms ("provide" -> "supply",
  "ensure" -> "make sure"; the `{{placeholders}}` are never touched). Partner: the original.
- contradiction: a new row with the original's question (verbatim, or with a trivial change such as
  a greeting, "please" or the question mark) and its answer with ONE fact changed; the fact kinds are
  cycled evenly: an amount ("$25" -> "$40"), a duration ("14 days" -> "30 days", "3-5 business days"
  -> "7-10 business days", hours), a yes/no flipped ("Yes, we deliver on Saturdays." / "No, we don't
  deliver on Saturdays.") and a policy verb negated ("you can" -> "you cannot", "we offer" -> "we do
  not offer", "is free" -> "is not free"). Where the answer already states such a fact (a dollar
  amount, a number of days, a "you can") it is changed in the copy; otherwise one fact sentence
  fitting the row's intent is added to the ORIGINAL answer and its flipped twin to the copy, at the
  same place (the original then differs from the input but carries no code; it is listed as the
  partner). Partner: the original.
- off_task: new rows from a neighbouring domain: bank-card customer questions taken from banking77
  (`classification/banking77_train.jsonl`) with bank support answers written here (opener, a body per
  group of banking intents, a closing; some with `{{...}}` placeholders in the data's style). Their
  label is, about 70 % of the time, the nearest shop intent present in the data (a user who filed them
  under their own intents), else the banking intent. No partner.
- language_mismatch: an original row MODIFIED IN PLACE: its English prompt is kept and its answer is
  replaced by one or two sentences (5-25 words) in German, Spanish, French, Italian or Portuguese
  (cycled evenly), fitting the row's intent group when there is one. No partner.

Receipts (fmt="json"; prompt = OCR text, answer = json.dumps of the fields):

- near_duplicate: a new row, the same receipt as a second scan: lines merged ("CASH" + "10.00" ->
  "CASH 10.00") and split differently, 2-4 OCR-confusable characters (O/0, I/1, l/1, S/5, B/8) in
  lines that carry no field value, one such line dropped or one more pair merged; the answer is
  identical. Partner: the original.
- contradiction: a new row with the same receipt (text verbatim or a second scan as above) whose
  answer has one field changed, cycled evenly: another total, another date (day or year), another
  spelling of the company (a letter changed, a word dropped, "SDN BHD" <-> "S/B", "&" -> "AND").
  Partner: the original.
- off_task: new rows, documents of a neighbouring domain written here as OCR-like text (bank
  statements, utility bills, payslips, parcel consignment notes, hotel booking confirmations, mobile
  phone bills; Malaysian names, addresses and amounts drawn at random, layouts varied), with an answer
  of the same keys (issuer, document date, issuer address, amount). No partner.
- personal_data: an original receipt MODIFIED IN PLACE: a private person's data added where receipts
  print it: a member/customer line with a name and a mobile number, a personal e-mail
  (firstname.lastname@gmail.com style), a loyalty card holder line, or two of these; after the
  header, before the total or at the end. The answer is unchanged. The shop's own phone or e-mail is
  never what is added. No partner.

Notes on the clean data this meets (found while writing it): Bitext rows are template-generated, so
many clean rows are already near-duplicates of one another (same order number, a typo apart), and a
few refund answers state another amount than their prompt ("$3" asked, "$350" answered); some SROIE
receipts already print a person's name (the same name heads 5 receipts, a member's name and card
number on one, cashiers' names), shops print their own gmail/hotmail addresses, totals come as
"9.00", "RM9.00" or "$9.00", one total is empty and one negative, and dates take some 30 formats.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import replace
from pathlib import Path

from anchortune.data.records import AnchorPoint

TEXT_DEFECTS = ("near_duplicate", "contradiction", "off_task", "language_mismatch")
JSON_DEFECTS = ("near_duplicate", "contradiction", "off_task", "personal_data")


# --------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------


def _with(point: AnchorPoint, prompt: str | None = None, answer: str | None = None) -> AnchorPoint:
    """A copy of `point` with its last user turn and/or last assistant turn replaced."""
    msgs = [dict(m) for m in point.messages]
    if prompt is not None:
        i = max(j for j, m in enumerate(msgs) if m["role"] == "user")
        msgs[i]["content"] = prompt
    if answer is not None:
        i = max(j for j, m in enumerate(msgs) if m["role"] == "assistant")
        msgs[i]["content"] = answer
    return AnchorPoint(tuple(msgs), point.line, point.label, dict(point.extra))


def _new_point(template: AnchorPoint | None, prompt: str, answer: str, label: str | None) -> AnchorPoint:
    """A fresh single-turn row; keeps the system turn of `template` when the data has one."""
    msgs = [dict(m) for m in (template.messages if template else ()) if m["role"] == "system"]
    msgs += [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
    return AnchorPoint(tuple(msgs), 0, label, dict(template.extra) if template else {})


def _match_case(src: str, repl: str) -> str:
    if src[:1].isupper() and repl[:1].islower():
        return repl[0].upper() + repl[1:]
    return repl


def _substitute(text: str, table: list[tuple[re.Pattern, list[str]]], rng: random.Random,
                keep: float = 1.0, limit: int | None = None,
                protect: list[tuple[int, int]] = ()) -> tuple[str, int]:
    """Replace non-overlapping matches of the table's patterns (earlier entries win overlaps).

    Every pattern's matches are collected on the ORIGINAL text, so one replacement is never
    rewritten again by a later entry. `keep` is the chance each candidate is used; `limit` caps how
    many are used (chosen at random). Returns the new text and the number of replacements.
    """
    taken: list[tuple[int, int, str]] = []

    def free(a: int, b: int) -> bool:
        return all(b <= s or a >= e for s, e, _ in taken) and all(b <= s or a >= e for s, e in protect)

    for pat, alts in table:
        for m in pat.finditer(text):
            if not free(m.start(), m.end()):
                continue
            options = [a for a in alts if a.lower() != m.group(0).lower()]
            if options:
                taken.append((m.start(), m.end(), _match_case(m.group(0), rng.choice(options))))
    taken = [t for t in taken if rng.random() < keep]
    if limit is not None and len(taken) > limit:
        taken = rng.sample(taken, limit)
    out = text
    for a, b, r in sorted(taken, key=lambda t: -t[0]):
        out = out[:a] + r + out[b:]
    return out, len(taken)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _jaccard(a: str, b: str) -> float:
    x, y = set(_words(a)), set(_words(b))
    return len(x & y) / max(1, len(x | y))


def _table(entries: list[tuple[str, list[str]]]) -> list[tuple[re.Pattern, list[str]]]:
    return [(re.compile(p, re.IGNORECASE), alts) for p, alts in entries]


# --------------------------------------------------------------------------------------------------
# Support (text): near duplicates
# --------------------------------------------------------------------------------------------------

# Phrases first (longer wins), then verbs, then nouns. Written for shop-support questions.
_PROMPT_TABLE = _table([
    # whole questions and framings
    (r"\bhow (?:do|can|could) i get (?:a|my) refund\b", ["what's the way to have my money returned",
                                                          "how would I go about getting my money back",
                                                          "what do I do to be reimbursed"]),
    (r"\bi want to cancel my order\b", ["I would like to call off my purchase", "I'd like to back out of my purchase"]),
    (r"\bwhen will my (?:order|package|parcel) arrive\b", ["when is my purchase going to get here",
                                                            "how soon will my parcel be delivered"]),
    (r"\bhow long does it take\b", ["how much time does it need", "what's the usual time"]),
    (r"\bi (?:need|want|would like|'d like) (?:some )?(?:help|assistance) to\b",
     ["could you help me to", "can you assist me to", "I'd appreciate a hand to", "I'm looking for support to"]),
    (r"\b(?:i )?(?:need|want|would like) (?:some )?(?:help|assistance) (?:with|for)\b",
     ["could you assist me with", "I'm looking for support with", "can I get a hand with"]),
    (r"\b(?:i )?(?:need|want) (?:some )?(?:help|assistance) to\b",
     ["could you help me to", "I'd appreciate some support to", "can you assist me to"]),
    (r"\b(?:i )?(?:need|want) (?:some )?(?:help|assistance)\b",
     ["I could use some support", "I'm looking for a hand", "could you give me a hand"]),
    (r"\bi (?:want|wanna) to\b", ["I would like to", "I'd like to", "I wish to"]),
    (r"\bi would like to\b", ["I want to", "I'd love to", "I need to"]),
    (r"\bi'd like to\b", ["I want to", "I would love to"]),
    (r"\bi need to\b", ["I have to", "I must", "I've got to"]),
    (r"\bi have to\b", ["I need to", "I must"]),
    (r"\b(?:can|could|would) you help me(?: to)?\b", ["could you assist me to", "would you give me a hand to"]),
    (r"(?<!you )\bhelp me(?: to)?\b", ["assist me to", "could you help me"]),
    (r"\bwanna\b", ["want to", "would like to", "need to"]),
    (r"^how to\b", ["what's the way to", "how can I", "what do I do to"]),
    (r"\bchat with\b", ["talk to", "speak with"]),
    (r"\b(?:ur|your) (?:company|business)\b", ["your shop", "your store", "you guys"]),
    (r"\bhow (?:do|can|could) i\b", ["what's the way to", "what do I have to do to", "what is the procedure to",
                                      "how would I"]),
    (r"\bwhere (?:do|can|could) i\b", ["where is it possible to", "where would I", "in which place can I"]),
    (r"\bis it possible to\b", ["can I", "am I able to", "is there a way to"]),
    (r"\bcan i\b", ["am I able to", "is it possible to", "could I"]),
    (r"\bshow me\b", ["let me see", "tell me", "I'd like to know"]),
    (r"\bi (?:don'?t|do not) know how (?:i can|to|i could)\b", ["I'm not sure how to", "I have no idea how to",
                                                                "I can't figure out how to"]),
    (r"\bi (?:can ?not|can'?t)\b", ["I'm unable to", "I am not able to"]),
    (r"\btell me\b", ["let me know", "inform me"]),
    (r"\bi'?m waiting for\b", ["I'm still expecting", "I've been waiting on"]),
    (r"\bi expect\b", ["I'm expecting", "I'm waiting for"]),
    (r"\bmake a (?:complaint|claim)\b", ["lodge a complaint", "file a grievance", "raise a complaint"]),
    (r"\b(?:write|leave|submit|make|send) (?:a |an |some )?(?:review|comment|feedback)\b",
     ["post some feedback", "share my opinion", "leave a comment"]),
    (r"\bunsubscribe (?:from|to)\b", ["opt out of", "stop receiving", "cancel my subscription to"]),
    (r"\bsubscribe to\b", ["sign up for", "join"]),
    (r"\b(?:speak|talk) (?:to|with)\b", ["have a word with", "chat with", "get through to"]),
    (r"\bswitch to\b", ["move to", "upgrade to", "change over to"]),
    (r"\bswitching to\b", ["moving to", "upgrading to", "changing over to"]),
    (r"\bset up\b", ["configure", "add"]),
    (r"\bsetting up\b", ["configuring", "adding"]),
    (r"\binform of\b", ["tell you about", "notify you of"]),
    (r"\bearly (?:exit|termination) (?:fee|penalty|charge)\b", ["early termination charge", "fee for leaving early"]),
    (r"\bcancellation (?:fee|charge|penalty)\b", ["cancellation cost", "charge for cancelling"]),
    (r"\bcustomer (?:service|support|care)\b", ["the support team", "customer care", "the help desk"]),
    (r"\bpayment (?:methods|options)\b", ["ways to pay", "methods of payment"]),
    (r"\bshipping address\b", ["delivery address", "address for deliveries"]),
    (r"\bdelivery address\b", ["shipping address", "address for shipping"]),
    (r"\bphone number\b", ["telephone number", "number to call"]),
    (r"\blast month\b", ["the previous month", "the past month"]),
    (r"\bhow long\b", ["how much time"]),
    (r"\bmoney back\b", ["refund", "reimbursement"]),
    # verbs
    (r"\bcancel(?:l)?ing\b", ["calling off", "revoking", "annulling"]),
    (r"\bcancel\b", ["call off", "revoke", "annul", "scrap"]),
    (r"\bchecking\b", ["looking at", "verifying", "reviewing"]),
    (r"\bcheck\b", ["look at", "verify", "review", "take a look at"]),
    (r"\btracking\b", ["following", "keeping track of"]),
    (r"\btrack\b", ["follow", "trace", "keep tabs on"]),
    (r"\bchange to\b", ["switch to", "move to"]),
    (r"\bchanging to\b", ["switching to", "moving to"]),
    (r"\bchanging\b", ["modifying", "altering"]),
    (r"\bchange\b", ["modify", "alter", "amend"]),
    (r"\bediting\b", ["modifying", "updating"]),
    (r"\bedit\b", ["modify", "update"]),
    (r"\bdeleting\b", ["removing", "closing"]),
    (r"\bdelete\b", ["remove", "close", "get rid of"]),
    (r"\bcreating\b", ["setting up", "opening"]),
    (r"\bcreate\b", ["set up", "open", "make"]),
    (r"\bopening\b", ["creating", "setting up"]),
    (r"\bopen\b", ["create", "set up"]),
    (r"\brecovering\b", ["retrieving", "resetting"]),
    (r"\brecover\b", ["retrieve", "get back", "reset"]),
    (r"\breset\b", ["recover", "renew"]),
    (r"\bsee\b", ["view", "find out", "look up"]),
    (r"\bgetting\b", ["obtaining", "receiving"]),
    (r"\bget\b", ["obtain", "receive"]),
    (r"\breporting\b", ["flagging", "notifying you of"]),
    (r"\breport\b", ["flag", "notify you of", "let you know about"]),
    (r"\bsubmit\b", ["send", "file"]),
    (r"\bcontacting\b", ["reaching", "getting in touch with"]),
    (r"\bcontact\b", ["reach", "get in touch with", "talk to"]),
    (r"\bcorrect\b", ["fix", "amend"]),
    (r"\bbuy\b", ["purchase", "order"]),
    (r"\bpay\b", ["make a payment", "settle up"]),
    (r"\breceive\b", ["get"]),
    (r"\brequest\b", ["ask for", "apply for"]),
    (r"\bask for\b", ["request", "apply for"]),
    (r"\bremove\b", ["take out", "delete"]),
    (r"\bdownload\b", ["get a copy of", "save"]),
    (r"\bfind\b", ["locate", "look up"]),
    (r"\bregister\b", ["sign up", "enroll"]),
    (r"\barrive\b", ["get here", "be delivered", "show up"]),
    (r"\bship\b", ["deliver", "send"]),
    (r"\bmodify(?:ing)?\b", ["change", "edit"]),
    (r"\bupdate\b", ["change", "edit"]),
    (r"\benter\b", ["add", "type in"]),
    # nouns
    (r"\borders\b", ["purchases"]),
    (r"\border\b", ["purchase"]),
    (r"\bpurchases\b", ["orders"]),
    (r"\bpurchase\b", ["order"]),
    (r"\brefunds\b", ["reimbursements", "repayments"]),
    (r"\brefund\b", ["reimbursement", "repayment"]),
    (r"\b(?:reimbursement|restitution|rebate|compensation)\b", ["refund", "repayment"]),
    (r"\binvoices\b", ["bills", "receipts"]),
    (r"\binvoice\b", ["bill", "receipt"]),
    (r"\bbills?\b", ["invoice"]),
    (r"\baccounts?\b", ["profile", "user account"]),
    (r"\bdelivery\b", ["shipping", "shipment"]),
    (r"\bshipping\b", ["delivery"]),
    (r"\bshipment\b", ["delivery"]),
    (r"\bpassword\b", ["login details", "passcode", "access code"]),
    (r"\bnewsletter\b", ["mailing list", "email newsletter", "promotional emails"]),
    (r"\b(?:item|product|article)s\b", ["items", "products", "articles"]),
    (r"\b(?:item|product|article)\b", ["item", "product", "article"]),
    (r"\b(?:human )?agent\b", ["real person", "representative", "live operator"]),
    (r"\bfees?\b", ["charge", "cost"]),
    (r"\bpenalty\b", ["fee", "charge"]),
    (r"\bproblems\b", ["issues", "troubles"]),
    (r"\bproblem\b", ["issue", "trouble"]),
    (r"\bissues\b", ["problems", "difficulties"]),
    (r"\bissue\b", ["problem", "difficulty"]),
    (r"\btrouble\b", ["problem", "difficulty"]),
    (r"\bmoney\b", ["funds", "cash"]),
    (r"\bstatus\b", ["progress", "current state"]),
    (r"\b(?:parcel|package)\b", ["package", "parcel", "shipment"]),
    (r"\b(?:feedback|review|comment)\b", ["opinion", "feedback", "review"]),
    (r"\bcomplaint\b", ["grievance", "formal complaint"]),
    (r"\bclaim\b", ["complaint"]),
    (r"\boptions\b", ["choices", "alternatives"]),
    (r"\bhours\b", ["times", "opening times"]),
    (r"\be-?mail\b", ["e-mail address", "mail"]),
    (r"\bur\b", ["your"]),
    (r"\bu\b", ["you"]),
    (r"\bpl[sz]\b", ["please"]),
])

_IMPERATIVES = frozenset(
    "cancel check track change edit delete create open recover reset see get report unsubscribe subscribe "
    "switch contact modify update remove add download find register submit correct inform notify list make "
    "place buy purchase set write leave send request pay use sign close ask call speak talk show display "
    "retrieve restore file lodge raise verify".split()
)
_IMPERATIVE_FRAMES = ["I'd like to ", "I want to ", "how do I ", "could you tell me how to ", "I need to ",
                      "is there a way to "]
_GERUND_FRAMES = ["I need some help with ", "can you help me with ", "I'm having trouble ", "question about "]
_GREETINGS = ["hi, ", "hello, ", "hey there, ", "good morning, ", "hi team, "]
_CLOSINGS = [" please", ", thanks", " - thank you", " asap", ", can you help?"]

# Light rewording of answers (placeholders are protected).
_ANSWER_TABLE = _table([
    (r"\bI'm here to help\b", ["I'm happy to help", "I'm glad to assist"]),
    (r"\bplease don't hesitate to\b", ["feel free to", "do not hesitate to"]),
    (r"\breach out to\b", ["contact", "get in touch with"]),
    (r"\bcontact (?=our|us|the)", ["get in touch with ", "reach "]),
    (r"\bprovide you with\b", ["give you", "offer you"]),
    (r"\bprovide\b", ["supply", "share"]),
    (r"\bensure\b", ["make sure"]),
    (r"\badditional\b", ["further", "extra"]),
    (r"\binformation\b", ["details", "info"]),
    (r"\bissues\b", ["problems"]),
    (r"\bissue\b", ["problem"]),
    (r"\bquickly\b", ["promptly", "swiftly"]),
    (r"\bThank you\b", ["Thanks", "Many thanks"]),
    (r"\bI apologize\b", ["I'm sorry", "I am sorry"]),
    (r"\binconvenience\b", ["trouble", "hassle"]),
    (r"\bassist you\b", ["help you", "support you"]),
    (r"\bfurther assistance\b", ["more help", "any other help"]),
    (r"\bsection\b", ["area", "page"]),
    (r"\blocate\b", ["find"]),
    (r"\bnavigate to\b", ["go to", "head to"]),
    (r"\bclick on\b", ["select", "tap"]),
    (r"\bselect\b", ["choose", "pick"]),
    (r"\blog in(?:to)?\b", ["sign in to"]),
    (r"\bsign in to\b", ["log into"]),
    (r"\bkindly\b", ["please"]),
    (r"\baround the clock\b", ["24/7", "day and night"]),
    (r"\bguide you\b", ["walk you"]),
    (r"\bprocess\b", ["procedure"]),
    (r"\bassistance\b", ["help", "support"]),
    (r"\bpromptly\b", ["quickly", "right away"]),
    (r"\bappreciate\b", ["value"]),
    (r"\bconcerns?\b", ["worry"]),
])

_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")


def _decap(text: str) -> str:
    """Lower the first letter unless it is the pronoun I (I, I'm, I'd, ...)."""
    if re.match(r"I\b", text):
        return text
    return text[:1].lower() + text[1:]


def _reword_prompt(prompt: str, rng: random.Random) -> str | None:
    """The same question in other words, or None when this prompt cannot be reworded enough."""
    lowercase = not any(c.isupper() for c in prompt)
    stripped = prompt.strip()
    first = (_words(stripped) or [""])[0]
    for _ in range(6):
        text, subs = _substitute(stripped, _PROMPT_TABLE, rng, keep=0.85)
        framed = 0
        if first in _IMPERATIVES and rng.random() < 0.85:
            text = rng.choice(_IMPERATIVE_FRAMES) + _decap(text)
            framed = 1
        elif first.endswith("ing") and len(first) > 4 and rng.random() < 0.85:
            text = rng.choice(_GERUND_FRAMES) + _decap(text)
            framed = 1
        elif rng.random() < 0.4:
            text = rng.choice(_GREETINGS) + _decap(text)
        elif rng.random() < 0.3:
            text = text.rstrip("?!. ") + rng.choice(_CLOSINGS)
        if lowercase:
            text = text.lower()
        elif text[:1].islower():
            text = text[0].upper() + text[1:]
        if subs + framed >= 2 and _jaccard(text, stripped) <= 0.6 and text.lower() != stripped.lower():
            return text
    return None


def _reword_answer(answer: str, rng: random.Random) -> str:
    protect = [m.span() for m in _PLACEHOLDER.finditer(answer)]
    out, _ = _substitute(answer, _ANSWER_TABLE, rng, limit=rng.randint(2, 4), protect=protect)
    return out


# --------------------------------------------------------------------------------------------------
# Support (text): intent groups, contradictions
# --------------------------------------------------------------------------------------------------

_FAMILY_OF_INTENT = {
    "cancel_order": "order", "change_order": "order", "place_order": "order", "track_order": "order",
    "get_refund": "refund", "track_refund": "refund", "check_refund_policy": "refund",
    "delivery_period": "delivery", "delivery_options": "delivery", "change_shipping_address": "delivery",
    "set_up_shipping_address": "delivery",
    "create_account": "account", "edit_account": "account", "delete_account": "account",
    "switch_account": "account", "recover_password": "account", "registration_problems": "account",
    "check_invoice": "billing", "get_invoice": "billing", "check_payment_methods": "billing",
    "payment_issue": "billing", "check_cancellation_fee": "billing",
    "contact_customer_service": "contact", "contact_human_agent": "contact", "complaint": "contact",
    "review": "contact", "newsletter_subscription": "newsletter",
}
_FAMILY_WORDS = [
    ("refund", r"refund|reimburs|money back|restitution|rebate|compensation"),
    ("newsletter", r"newsletter|subscri"),
    ("billing", r"invoice|\bbill|pay|fee|charge|penalt"),
    ("delivery", r"deliver|ship|address|parcel|package|arriv"),
    ("account", r"account|password|sign ?up|regist|profile|log ?in"),
    ("order", r"order|purchase|cancel|buy"),
    ("contact", r"agent|human|customer (?:service|support)|complain|review|feedback|\bcall"),
]


def _family(point: AnchorPoint) -> str:
    if point.label in _FAMILY_OF_INTENT:
        return _FAMILY_OF_INTENT[point.label]
    low = point.prompt.lower()
    for fam, pat in _FAMILY_WORDS:
        if re.search(pat, low):
            return fam
    return "generic"


_AMOUNT_FACTS = {
    "order": ["Orders over {v} ship for free.", "Changing an order after it has been packed costs {v}.",
              "There is a {v} handling fee for orders placed by phone."],
    "refund": ["Refunds of up to {v} are approved without a manager's review.",
               "A restocking fee of {v} is deducted from refunds on opened items."],
    "delivery": ["Express delivery costs {v} per order.", "Standard shipping is a flat {v}.",
                 "Redirecting a parcel to a new address costs {v}."],
    "account": ["The Pro plan costs {v} per month.", "Upgrading to a Gold account costs {v} a year."],
    "billing": ["The cancellation fee is {v}.", "A late payment fee of {v} is added to overdue invoices.",
                "A paper copy of an invoice costs {v}."],
    "contact": ["Every resolved complaint comes with a {v} goodwill voucher.",
                "Calls to our priority hotline cost {v} per call."],
    "newsletter": ["New subscribers receive a {v} welcome voucher.", "Subscribers get {v} off their next order."],
    "generic": ["Gift wrapping costs {v} per item.", "Orders over {v} ship for free."],
}
_AMOUNTS = ["$5", "$10", "$15", "$20", "$25", "$40", "$50", "$75", "$4.99", "$9.99", "$2.50", "$100"]

# (template, unit): unit picks the values the slot takes
_DURATION_FACTS = {
    "order": [("Orders can be cancelled free of charge within {v} of being placed.", "hours"),
              ("You can still edit an order for {v} after checkout.", "hours")],
    "refund": [("Refunds reach your account within {v}.", "bdays"),
               ("You can return items within {v} of delivery.", "days")],
    "delivery": [("Standard delivery takes {v}.", "bdays"), ("Express orders arrive within {v}.", "hours")],
    "account": [("Password reset links expire after {v}.", "hours"),
                ("A deleted account can be restored within {v}.", "days")],
    "billing": [("Invoices can be downloaded for {v} after the order.", "months"),
                ("Payments are confirmed within {v}.", "hours")],
    "contact": [("Our agents answer e-mails within {v}.", "hours"),
                ("Complaints are reviewed within {v}.", "bdays")],
    "newsletter": [("Unsubscribe requests take effect within {v}.", "hours"),
                   ("The welcome discount is valid for {v}.", "days")],
    "generic": [("You can return items within {v} of delivery.", "days")],
}
_DURATIONS = {
    "hours": ["1 hour", "2 hours", "6 hours", "12 hours", "24 hours", "48 hours", "72 hours"],
    "days": ["7 days", "14 days", "30 days", "60 days", "90 days"],
    "bdays": ["1-2 business days", "2-3 business days", "3-5 business days", "5-7 business days",
              "7-10 business days", "10 business days"],
    "months": ["3 months", "6 months", "12 months", "24 months"],
}

_YESNO_FACTS = {
    "order": [("Yes, an order can be changed after payment.", "No, an order can't be changed after payment."),
              ("Yes, we ship orders to PO boxes.", "No, we don't ship orders to PO boxes.")],
    "refund": [("Yes, sale items are eligible for a refund.", "No, sale items are not eligible for a refund."),
               ("Yes, refunds go back to the original payment method.",
                "No, refunds don't go back to the original payment method.")],
    "delivery": [("Yes, we deliver on Saturdays.", "No, we don't deliver on Saturdays."),
                 ("Yes, we ship internationally.", "No, we don't ship internationally.")],
    "account": [("Yes, several shipping addresses can be saved on one account.",
                 "No, several shipping addresses can't be saved on one account."),
                ("Yes, a deleted account can be reactivated.", "No, a deleted account cannot be reactivated.")],
    "billing": [("Yes, invoices can be issued in your company's name.",
                 "No, invoices can't be issued in your company's name."),
                ("Yes, we accept payment by bank transfer.", "No, we don't accept payment by bank transfer.")],
    "contact": [("Yes, our support line is open on weekends.", "No, our support line is not open on weekends."),
                ("Yes, you can ask for a callback from a human agent.",
                 "No, you can't ask for a callback from a human agent.")],
    "newsletter": [("Yes, you can choose how often the newsletter arrives.",
                    "No, you can't choose how often the newsletter arrives.")],
    "generic": [("Yes, gift cards can be used for this.", "No, gift cards can't be used for this.")],
}

_NEGATION_FACTS = {
    "order": [("You can cancel an order free of charge before it ships.",
               "You cannot cancel an order free of charge before it ships."),
              ("We offer same-day dispatch on orders placed before noon.",
               "We do not offer same-day dispatch on orders placed before noon.")],
    "refund": [("We offer free returns on all orders.", "We do not offer free returns on all orders."),
               ("Return shipping is free.", "Return shipping is not free.")],
    "delivery": [("Changing the delivery address is free.", "Changing the delivery address is not free."),
                 ("You can pick a delivery time slot at checkout.", "You cannot pick a delivery time slot at checkout.")],
    "account": [("Creating an account is free.", "Creating an account is not free."),
                ("You can switch between account plans at any time.",
                 "You cannot switch between account plans at any time.")],
    "billing": [("We accept PayPal and Apple Pay.", "We do not accept PayPal and Apple Pay."),
                ("Cancelling within the first 30 days is free.", "Cancelling within the first 30 days is not free.")],
    "contact": [("We offer live chat support around the clock.", "We do not offer live chat support around the clock."),
                ("You can reach a human agent by phone.", "You cannot reach a human agent by phone.")],
    "newsletter": [("You can unsubscribe from the newsletter at any time.",
                    "You cannot unsubscribe from the newsletter at any time."),
                   ("The newsletter is free.", "The newsletter is not free.")],
    "generic": [("Gift wrapping is free.", "Gift wrapping is not free.")],
}

_MONEY = re.compile(r"\$\s?(\d[\d,]*(?:\.\d{1,2})?)")
_SPAN = re.compile(r"\b(\d+)(?:\s?-\s?(\d+))?(\s+(?:business\s+|working\s+)?(?:day|hour|week|month|minute)s?)\b",
                   re.IGNORECASE)
_NEGATABLE = [
    (re.compile(r"\b([Yy]ou) can\b(?! not)"), r"\1 cannot"),
    (re.compile(r"\b([Ww]e) offer\b"), r"\1 do not offer"),
    (re.compile(r"\b([Ww]e) accept\b"), r"\1 do not accept"),
    (re.compile(r"\b([Ww]e) provide\b"), r"\1 do not provide"),
    (re.compile(r"\b(is|are) (available|free|eligible|possible)\b"), r"\1 not \2"),
    (re.compile(r"\b([Yy]ou) will receive\b"), r"\1 will not receive"),
    (re.compile(r"\b([Yy]ou) may\b(?! not)"), r"\1 may not"),
    (re.compile(r"\b([Yy]ou) are able to\b"), r"\1 are not able to"),
]


def _flip_money(answer: str, rng: random.Random) -> str | None:
    found = list(_MONEY.finditer(answer))
    if not found:
        return None
    m = rng.choice(found)
    raw = m.group(1)
    value = float(raw.replace(",", ""))
    cents = "." in raw
    choices = [value * f for f in (0.5, 1.5, 2.0, 3.0)] + [value + d for d in (10, 25, 50)]
    choices = [c for c in choices if abs(c - value) > 0.009 and c >= 1]
    new = rng.choice(choices)
    text = f"{new:.2f}" if cents else f"{round(new):d}"
    return answer[:m.start(1)] + text + answer[m.end(1):]


def _flip_span(answer: str, rng: random.Random) -> str | None:
    found = list(_SPAN.finditer(answer))
    if not found:
        return None
    m = rng.choice(found)
    a, b, unit = m.group(1), m.group(2), m.group(3)
    if b:
        options = [(x, y) for x, y in ((1, 2), (2, 3), (3, 5), (5, 7), (7, 10), (10, 14), (14, 21))
                   if (str(x), str(y)) != (a, b)]
        x, y = rng.choice(options)
        text = f"{x}-{y}{unit}"
    else:
        options = [n for n in (1, 2, 3, 5, 7, 10, 14, 21, 30, 48, 72) if str(n) != a]
        n = rng.choice(options)
        u = unit
        if n == 1:
            u = re.sub(r"s\b", "", u)
        elif not u.rstrip().endswith("s"):
            u = u + "s"
        text = f"{n}{u}"
    return answer[:m.start()] + text + answer[m.end():]


def _flip_negation(answer: str, rng: random.Random) -> str | None:
    found = [(m, repl) for pat, repl in _NEGATABLE for m in pat.finditer(answer)]
    if not found:
        return None
    m, repl = rng.choice(found)
    return answer[:m.start()] + m.expand(repl) + answer[m.end():]


_NATURAL_FLIP = {"amount": _flip_money, "duration": _flip_span, "negation": _flip_negation}


def _fact_pair(kind: str, family: str, rng: random.Random) -> tuple[str, str]:
    """Two sentences that state the same fact differently (shuffled: either may go to the copy)."""
    if kind == "amount":
        tpl = rng.choice(_AMOUNT_FACTS[family])
        a, b = rng.sample(_AMOUNTS, 2)
        pair = (tpl.format(v=a), tpl.format(v=b))
    elif kind == "duration":
        tpl, unit = rng.choice(_DURATION_FACTS[family])
        a, b = rng.sample(_DURATIONS[unit], 2)
        pair = (tpl.format(v=a), tpl.format(v=b))
    elif kind == "yesno":
        pair = rng.choice(_YESNO_FACTS[family])
    else:
        pair = rng.choice(_NEGATION_FACTS[family])
    return pair if rng.random() < 0.5 else (pair[1], pair[0])


def _insert_sentence(answer: str, sentence: str, where: int) -> str:
    """Put `sentence` in `answer`: 0 after the first sentence, 1 as a paragraph before the last, 2 at the end."""
    paras = answer.split("\n\n")
    if where == 1 and len(paras) >= 2:
        return "\n\n".join(paras[:-1] + [sentence, paras[-1]])
    if where == 2:
        return answer.rstrip() + ("\n\n" if len(paras) >= 2 else " ") + sentence
    m = re.search(r"[.!?](\s+)", paras[0])
    if m and not paras[0][:m.start() + 1].endswith(":"):
        head = paras[0][:m.end(1) - len(m.group(1))]
        paras[0] = head + " " + sentence + " " + paras[0][m.end():]
    else:
        paras[0] = paras[0].rstrip() + " " + sentence if not paras[0].rstrip().endswith(":") else \
            sentence + " " + paras[0]
    return "\n\n".join(paras)


def _trivial_change(prompt: str, rng: random.Random) -> str:
    if rng.random() < 0.6:
        return prompt
    p = prompt.strip()
    options = [
        lambda s: s.rstrip("?") if s.endswith("?") else s + "?",
        lambda s: (s[0].upper() + s[1:]) if s[:1].islower() else (s[0].lower() + s[1:]),
        lambda s: s.rstrip("?!. ") + " please",
        lambda s: "hi " + s,
        lambda s: s + "!!",
    ]
    out = rng.choice(options)(p)
    return out if out != p else p + "?"


# --------------------------------------------------------------------------------------------------
# Support (text): foreign answers and bank answers
# --------------------------------------------------------------------------------------------------

_FOREIGN = {
    "de": {
        "order": ["Gerne helfe ich Ihnen bei Ihrer Bestellung. Melden Sie sich in Ihrem Kundenkonto an und öffnen Sie „Meine Bestellungen“.",
                  "Ihre Bestellung kann storniert werden, solange sie noch nicht versandt wurde. Klicken Sie dazu auf „Bestellung stornieren“."],
        "refund": ["Ihre Rückerstattung wird bearbeitet und in wenigen Werktagen Ihrem Zahlungsmittel gutgeschrieben.",
                   "Für eine Rückerstattung senden Sie uns bitte Ihre Bestellnummer, dann kümmern wir uns sofort darum."],
        "delivery": ["Die Lieferung dauert in der Regel drei bis fünf Werktage. Den Sendungsstatus sehen Sie in Ihrem Konto.",
                     "Sie können Ihre Lieferadresse jederzeit im Kundenkonto unter „Adressen“ ändern."],
        "account": ["Sie können Ihre Kontodaten jederzeit in den Einstellungen Ihres Profils ändern.",
                    "Um Ihr Passwort zurückzusetzen, klicken Sie auf der Anmeldeseite auf „Passwort vergessen“."],
        "billing": ["Ihre Rechnung finden Sie als PDF in Ihrem Kundenkonto unter „Bestellungen“.",
                    "Wir akzeptieren Kreditkarte, PayPal und Überweisung. Bei Problemen mit der Zahlung helfen wir Ihnen gerne."],
        "contact": ["Unser Kundenservice ist montags bis freitags von 8 bis 18 Uhr per Telefon und Chat erreichbar.",
                    "Vielen Dank für Ihr Feedback! Wir leiten Ihre Anmerkungen an das zuständige Team weiter."],
        "newsletter": ["Sie können den Newsletter jederzeit über den Abmeldelink am Ende jeder E-Mail abbestellen."],
        "generic": ["Vielen Dank für Ihre Nachricht. Wir kümmern uns so schnell wie möglich um Ihr Anliegen.",
                    "Das tut mir leid. Ein Mitarbeiter wird sich in Kürze bei Ihnen melden."],
    },
    "es": {
        "order": ["Con gusto le ayudo con su pedido. Inicie sesión en su cuenta y vaya a «Mis pedidos».",
                  "Puede cancelar su pedido mientras no se haya enviado. Solo tiene que pulsar «Cancelar pedido»."],
        "refund": ["Su reembolso está en proceso y se abonará en su método de pago en unos días hábiles.",
                   "Para solicitar un reembolso, envíenos el número de pedido y lo gestionaremos enseguida."],
        "delivery": ["El envío suele tardar entre tres y cinco días hábiles. Puede seguir su paquete desde su cuenta.",
                     "Puede cambiar su dirección de envío en cualquier momento en la sección «Direcciones» de su cuenta."],
        "account": ["Puede modificar los datos de su cuenta en cualquier momento desde la configuración de su perfil.",
                    "Para restablecer su contraseña, haga clic en «¿Olvidó su contraseña?» en la página de inicio de sesión."],
        "billing": ["Encontrará su factura en formato PDF en la sección «Pedidos» de su cuenta.",
                    "Aceptamos tarjeta de crédito, PayPal y transferencia bancaria. Si tiene problemas con el pago, le ayudamos."],
        "contact": ["Nuestro servicio de atención al cliente atiende de lunes a viernes, de 9:00 a 18:00, por teléfono y chat.",
                    "¡Gracias por sus comentarios! Los compartiremos con el equipo correspondiente."],
        "newsletter": ["Puede darse de baja del boletín en cualquier momento con el enlace al final de cada correo."],
        "generic": ["Gracias por su mensaje. Atenderemos su solicitud lo antes posible.",
                    "Lamentamos las molestias. Un agente se pondrá en contacto con usted en breve."],
    },
    "fr": {
        "order": ["Je vous aide volontiers avec votre commande. Connectez-vous à votre compte et ouvrez « Mes commandes ».",
                  "Vous pouvez annuler votre commande tant qu'elle n'a pas été expédiée, via le bouton « Annuler la commande »."],
        "refund": ["Votre remboursement est en cours de traitement et sera crédité sous quelques jours ouvrés.",
                   "Pour demander un remboursement, envoyez-nous votre numéro de commande et nous nous en occupons."],
        "delivery": ["La livraison prend généralement trois à cinq jours ouvrés. Vous pouvez suivre votre colis depuis votre compte.",
                     "Vous pouvez modifier votre adresse de livraison à tout moment dans la rubrique « Adresses » de votre compte."],
        "account": ["Vous pouvez modifier les informations de votre compte à tout moment dans les paramètres de votre profil.",
                    "Pour réinitialiser votre mot de passe, cliquez sur « Mot de passe oublié » sur la page de connexion."],
        "billing": ["Votre facture est disponible au format PDF dans la rubrique « Commandes » de votre compte.",
                    "Nous acceptons la carte bancaire, PayPal et le virement. En cas de problème de paiement, nous sommes là pour vous aider."],
        "contact": ["Notre service client est joignable du lundi au vendredi, de 9 h à 18 h, par téléphone ou par chat.",
                    "Merci pour votre retour ! Nous le transmettons à l'équipe concernée."],
        "newsletter": ["Vous pouvez vous désabonner de la newsletter à tout moment grâce au lien en bas de chaque e-mail."],
        "generic": ["Merci pour votre message. Nous traitons votre demande dans les plus brefs délais.",
                    "Nous sommes désolés pour ce désagrément. Un conseiller vous recontactera très bientôt."],
    },
    "it": {
        "order": ["Sono felice di aiutarla con il suo ordine. Acceda al suo account e apra la sezione «I miei ordini».",
                  "Può annullare l'ordine finché non è stato spedito, cliccando su «Annulla ordine»."],
        "refund": ["Il suo rimborso è in lavorazione e verrà accreditato entro pochi giorni lavorativi.",
                   "Per richiedere un rimborso ci invii il numero dell'ordine e ce ne occuperemo subito."],
        "delivery": ["La consegna richiede di solito da tre a cinque giorni lavorativi. Può seguire il pacco dal suo account.",
                     "Può modificare l'indirizzo di spedizione in qualsiasi momento nella sezione «Indirizzi» del suo account."],
        "account": ["Può modificare i dati del suo account in qualsiasi momento dalle impostazioni del profilo.",
                    "Per reimpostare la password, clicchi su «Password dimenticata» nella pagina di accesso."],
        "billing": ["Trova la sua fattura in formato PDF nella sezione «Ordini» del suo account.",
                    "Accettiamo carte di credito, PayPal e bonifico bancario. In caso di problemi con il pagamento siamo qui per aiutarla."],
        "contact": ["Il nostro servizio clienti è disponibile dal lunedì al venerdì, dalle 9 alle 18, al telefono o in chat.",
                    "Grazie per il suo feedback! Lo inoltreremo al team competente."],
        "newsletter": ["Può annullare l'iscrizione alla newsletter in qualsiasi momento tramite il link in fondo a ogni e-mail."],
        "generic": ["Grazie per il suo messaggio. Gestiremo la sua richiesta il prima possibile.",
                    "Ci scusiamo per il disagio. Un operatore la contatterà a breve."],
    },
    "pt": {
        "order": ["Fico feliz em ajudar com o seu pedido. Acesse sua conta e abra a seção “Meus pedidos”.",
                  "Você pode cancelar o pedido enquanto ele ainda não foi enviado, clicando em “Cancelar pedido”."],
        "refund": ["Seu reembolso está sendo processado e será creditado em alguns dias úteis.",
                   "Para solicitar um reembolso, envie-nos o número do pedido e cuidaremos disso imediatamente."],
        "delivery": ["A entrega costuma levar de três a cinco dias úteis. Você pode rastrear o pacote pela sua conta.",
                     "Você pode alterar o endereço de entrega a qualquer momento na seção “Endereços” da sua conta."],
        "account": ["Você pode alterar os dados da sua conta a qualquer momento nas configurações do perfil.",
                    "Para redefinir sua senha, clique em “Esqueci minha senha” na página de login."],
        "billing": ["Sua fatura está disponível em PDF na seção “Pedidos” da sua conta.",
                    "Aceitamos cartão de crédito, PayPal e transferência bancária. Se tiver problemas com o pagamento, estamos aqui para ajudar."],
        "contact": ["Nosso atendimento ao cliente funciona de segunda a sexta, das 9h às 18h, por telefone e chat.",
                    "Obrigado pelo seu feedback! Vamos encaminhá-lo à equipe responsável."],
        "newsletter": ["Você pode cancelar a inscrição na newsletter a qualquer momento pelo link no final de cada e-mail."],
        "generic": ["Obrigado pela sua mensagem. Vamos tratar da sua solicitação o mais rápido possível.",
                    "Lamentamos o transtorno. Um atendente entrará em contato com você em breve."],
    },
}
LANGUAGES = ("de", "es", "fr", "it", "pt")

# banking77 intent -> (answer group, nearest shop intent a user might file it under)
_BANK_GROUPS = {
    "card_delivery": (["card_arrival", "card_delivery_estimate", "order_physical_card", "get_physical_card",
                       "getting_spare_card"], "delivery_period"),
    "card_activation": (["activate_my_card", "card_linking"], "edit_account"),
    "card_lost": (["lost_or_stolen_card", "compromised_card", "lost_or_stolen_phone", "card_swallowed"],
                  "contact_customer_service"),
    "pin": (["change_pin", "pin_blocked", "passcode_forgotten"], "recover_password"),
    "card_not_working": (["card_not_working", "contactless_not_working", "virtual_card_not_working",
                          "declined_card_payment", "card_acceptance"], "payment_issue"),
    "cash": (["declined_cash_withdrawal", "atm_support", "wrong_amount_of_cash_received",
              "cash_withdrawal_not_recognised", "pending_cash_withdrawal"], "payment_issue"),
    "fees": (["card_payment_fee_charged", "cash_withdrawal_charge", "exchange_charge", "extra_charge_on_statement",
              "transfer_fee_charged", "top_up_by_card_charge", "top_up_by_bank_transfer_charge"], "check_invoice"),
    "exchange": (["exchange_rate", "card_payment_wrong_exchange_rate", "wrong_exchange_rate_for_cash_withdrawal",
                  "exchange_via_app", "fiat_currency_support", "supported_cards_and_currencies"],
                 "check_payment_methods"),
    "transfer": (["transfer_timing", "pending_transfer", "transfer_not_received_by_recipient", "failed_transfer",
                  "declined_transfer", "cancel_transfer", "beneficiary_not_allowed", "transfer_into_account",
                  "receiving_money", "balance_not_updated_after_bank_transfer"], "payment_issue"),
    "topup": (["top_up_failed", "top_up_reverted", "pending_top_up", "top_up_limits", "topping_up_by_card",
               "automatic_top_up", "top_up_by_cash_or_cheque", "verify_top_up",
               "balance_not_updated_after_cheque_or_cash_deposit"], "check_payment_methods"),
    "unrecognised": (["card_payment_not_recognised", "direct_debit_payment_not_recognised",
                      "transaction_charged_twice", "pending_card_payment", "reverted_card_payment?"], "check_invoice"),
    "bank_refund": (["Refund_not_showing_up", "request_refund"], "track_refund"),
    "identity": (["verify_my_identity", "unable_to_verify_identity", "why_verify_identity", "verify_source_of_funds",
                  "age_limit"], "registration_problems"),
    "account_admin": (["edit_personal_details", "terminate_account", "country_support"], "edit_account"),
    "virtual": (["getting_virtual_card", "get_disposable_virtual_card", "disposable_card_limits",
                 "card_about_to_expire", "visa_or_mastercard", "apple_pay_or_google_pay"], "check_payment_methods"),
}
_BANK_GROUP_OF = {intent: g for g, (intents, _) in _BANK_GROUPS.items() for intent in intents}

_BANK_OPENERS = [
    "Thanks for getting in touch with us about your card.",
    "I understand how frustrating this can be, and I'm here to help.",
    "I'm sorry for the trouble with your account.",
    "Thank you for reaching out to the bank's support team.",
    "Good question, let me explain how this works for your account.",
    "I can see why you'd want this sorted quickly.",
]
_BANK_BODIES = {
    "card_delivery": [
        "New cards are posted within 2 working days of your order and usually arrive within 5 to 7 working days. "
        "You can follow the delivery status in the Cards section of the {{Banking App}}. If it hasn't arrived after "
        "10 working days, we can cancel it and send a replacement free of charge.",
        "Once your card is ordered it goes out by standard post. Delivery normally takes a week, a little longer to "
        "rural addresses. Please check that the address in your profile is correct, as we can only send cards to "
        "your registered address.",
    ],
    "card_activation": [
        "To activate your card, open the app, tap Cards, choose the new card and enter the last four digits printed "
        "on it. Your first chip-and-PIN payment at a shop or ATM also activates it.",
        "You can link your card by going to Accounts > Add card and scanning it with your phone's camera. The card "
        "must be in your name, and we may place a small temporary authorisation to confirm it.",
    ],
    "card_lost": [
        "Please freeze your card straight away in the app under Card settings > Freeze card. That blocks all new "
        "payments. Then order a replacement; your old card number stops working as soon as the new one is issued. "
        "If you spot payments you didn't make, report them from the transaction screen.",
        "For your security we recommend blocking the card immediately by calling {{Customer Support Phone Number}}. "
        "Our fraud team is available 24/7 and can send a replacement card to your registered address.",
    ],
    "pin": [
        "You can view or change your PIN at any of our ATMs under PIN services. If your PIN is blocked after three "
        "wrong attempts, unblock it in the app under Card settings and then use the card with the correct PIN.",
        "For security, we never send your PIN by e-mail or text. You can reveal it in the app after signing in with "
        "your passcode or fingerprint. If you've forgotten your passcode, tap 'Forgot passcode' on the login screen.",
    ],
    "card_not_working": [
        "Card payments can be declined if the card is frozen, the merchant is blocked in your settings, or your "
        "balance is too low. Please check the Card settings in the app and make sure online and contactless payments "
        "are switched on.",
        "Contactless usually starts working after your first chip-and-PIN purchase. If the card still fails, try "
        "another terminal; if that doesn't help, we can send you a free replacement card.",
    ],
    "cash": [
        "ATM withdrawals may be declined if you reached your daily cash limit or if the ATM operator doesn't accept "
        "our cards. If the machine didn't give you the right amount, please report it in the app within 30 days and "
        "attach the ATM receipt if you have it.",
        "Pending cash withdrawals normally settle within 1 to 3 working days. If the ATM cancelled the withdrawal, "
        "the money returns to your balance automatically once the operator confirms it.",
    ],
    "fees": [
        "Card payments in your home currency are free. Foreign-currency payments carry a 2.75% fee, and cash "
        "withdrawals above RM1,000 a month are charged 2%. You can see the exact fee next to each transaction in "
        "your statement.",
        "Transfers within the country are free; international transfers cost a fixed fee shown before you confirm. "
        "Topping up by debit card is free, while a credit card top-up is charged 1% of the amount.",
    ],
    "exchange": [
        "We use the Visa or Mastercard exchange rate of the day the payment is processed by the network, which can "
        "differ from the rate you saw when you paid. The final rate is shown in the transaction details.",
        "You can hold and exchange more than 30 currencies in the app. Exchanges on weekdays use the interbank rate; "
        "on weekends a small mark-up applies to cover market movements.",
    ],
    "transfer": [
        "Domestic transfers usually arrive within minutes, while international transfers take 1 to 5 working days "
        "depending on the destination. If a transfer is still pending, please check that the recipient's account "
        "number and sort code are correct.",
        "A transfer can only be cancelled while its status is still Pending. Open it in the app and tap Cancel "
        "transfer; once it is completed, we can only ask the receiving bank to return the funds.",
    ],
    "topup": [
        "Top-ups by debit card are usually instant; bank transfers can take up to one working day. If your top-up "
        "failed or was reverted, the card issuer may have declined it, and the amount is returned within 5 working "
        "days.",
        "You can set up automatic top-up under Accounts > Auto top-up and choose the amount and the balance that "
        "triggers it. The maximum balance on a standard account is RM30,000.",
    ],
    "unrecognised": [
        "If you don't recognise a payment, first check the merchant name in the transaction details, as companies "
        "often trade under a different name. If it still looks wrong, freeze your card and dispute the payment from "
        "the app so we can investigate.",
        "A payment shown twice is often a pending authorisation that drops off within 7 working days. If both "
        "entries are completed, please send us the details and we'll raise a chargeback with the merchant.",
    ],
    "bank_refund": [
        "Refunds from merchants usually appear on your account within 5 to 10 working days after the merchant issues "
        "them. If it's been longer, please ask the merchant for the refund reference and share it with us.",
        "We can't reverse a card payment ourselves, but if the merchant won't refund you we can open a dispute on "
        "your behalf. Please have your receipt and any messages with the seller ready.",
    ],
    "identity": [
        "We're required by law to verify who you are before you can use all features. Please upload a photo of a "
        "valid passport or ID card and take a short selfie in the app; checks are usually done within a few "
        "minutes.",
        "If the identity check keeps failing, make sure the photo is sharp, all four corners of the document are "
        "visible and the name matches your profile. You must be at least 18 years old to open an account.",
    ],
    "account_admin": [
        "You can update your address and phone number in the app under Profile > Personal details. To change your "
        "legal name, we'll need a copy of a document showing the new name.",
        "You can close your account at any time under Profile > Close account, once your balance is zero and no "
        "transactions are pending. Account statements remain available to download for six years.",
    ],
    "virtual": [
        "Virtual cards are free to create in the app under Cards > Add card. Disposable virtual cards generate new "
        "card details after each purchase, which makes them a safe choice for online shopping.",
        "Our cards are issued as Visa or Mastercard depending on your region, and they work with Apple Pay and "
        "Google Pay. When your card is about to expire, a new one is sent automatically a month before.",
    ],
}
_BANK_CLOSINGS = [
    "If you need anything else, our team is available 24/7 via in-app chat.",
    "Let me know if there's anything else I can help with regarding your account.",
    "You can also call us on {{Customer Support Phone Number}} if you'd prefer to speak to someone.",
    "",
    "Kind regards, your bank support team.",
    "Feel free to reply here if the problem persists.",
]


def _bank_answer(intent: str, rng: random.Random) -> str:
    body = rng.choice(_BANK_BODIES[_BANK_GROUP_OF[intent]])
    parts = [rng.choice(_BANK_OPENERS), body, rng.choice(_BANK_CLOSINGS)]
    if rng.random() < 0.3:
        parts = parts[1:]
    sep = "\n\n" if rng.random() < 0.5 else " "
    return sep.join(p for p in parts if p)


def _load_banking(shared: Path) -> dict[str, list[str]]:
    path = Path(shared) / "classification" / "banking77_train.jsonl"
    by_intent: dict[str, list[str]] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                row = json.loads(line)
                if row["intent"] in _BANK_GROUP_OF and row["text"].strip():
                    by_intent.setdefault(row["intent"], []).append(row["text"].strip())
    return by_intent


# --------------------------------------------------------------------------------------------------
# Receipts (json): re-scans, field changes
# --------------------------------------------------------------------------------------------------

_CONFUSE = {"O": "0", "0": "O", "I": "1", "1": "I", "l": "1", "S": "5", "5": "S", "B": "8", "8": "B"}


def _norm(s: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", s.upper())


def _field_line(line: str, fields: dict) -> bool:
    """Whether `line` carries (part of) a field value, so a re-scan must leave its characters alone."""
    n = _norm(line)
    if not n:
        return False
    total = _norm(str(fields.get("total", "")).replace("RM", ""))
    if total and total in n:
        return True
    date = _norm(str(fields.get("date", "")))
    if date and (date in n or (len(n) >= 4 and n in date)):
        return True
    for key in ("company", "address"):
        val = _norm(str(fields.get(key, "")))
        if val and len(n) >= 3 and (n in val or val in n):
            return True
        words = set(re.findall(r"[A-Z0-9]{3,}", str(fields.get(key, "")).upper()))
        mine = re.findall(r"[A-Z0-9]{3,}", line.upper())
        if mine and sum(w in words for w in mine) / len(mine) >= 0.5:
            return True
    return False


def _confuse(line: str, rng: random.Random, count: int) -> str:
    spots = [i for i, c in enumerate(line) if c in _CONFUSE]
    chars = list(line)
    for i in rng.sample(spots, min(count, len(spots))):
        chars[i] = _CONFUSE[chars[i]]
    return "".join(chars)


def _rescan(text: str, fields: dict, rng: random.Random) -> str:
    """The same receipt scanned again: other line breaks, a few confusable characters, a line lost/merged."""
    lines = text.split("\n")
    free = [i for i, ln in enumerate(lines) if not _field_line(ln, fields)]
    # a few OCR confusions in lines without field values
    spots = [(i, j) for i in free for j, c in enumerate(lines[i]) if c in _CONFUSE]
    for i, j in rng.sample(spots, min(len(spots), rng.randint(2, 4))):
        lines[i] = lines[i][:j] + _CONFUSE[lines[i][j]] + lines[i][j + 1:]
    # drop one line without a field value (else one more merge below)
    extra_merge = 0
    droppable = [i for i in free if 0 < i < len(lines) - 1]
    if droppable and rng.random() < 0.5:
        del lines[rng.choice(droppable)]
    else:
        extra_merge = 1
    # other line breaks: short neighbours merged, a long line split
    merges = rng.randint(2, 4) + extra_merge
    for _ in range(merges):
        pairs = [i for i in range(len(lines) - 1) if len(lines[i]) + len(lines[i + 1]) <= 40 and lines[i] and lines[i + 1]]
        if not pairs:
            break
        i = rng.choice(pairs)
        label_value = re.fullmatch(r"[A-Z ()/.]+", lines[i].strip()) and re.match(r"\s*-?(?:RM|\$)?\s?\d", lines[i + 1]) \
            and not _field_line(lines[i], fields)
        joiner = rng.choice([" ", " ", "  ", ": "]) if label_value and not lines[i].rstrip().endswith(":") else \
            rng.choice([" ", " ", "  "])
        lines[i:i + 2] = [lines[i].rstrip() + joiner + lines[i + 1].lstrip()]
    if rng.random() < 0.5:
        long_ = [i for i, ln in enumerate(lines) if len(ln) > 24 and " " in ln.strip()]
        if long_:
            i = rng.choice(long_)
            spaces = [m.start() for m in re.finditer(" ", lines[i])]
            cut = spaces[len(spaces) // 2]
            lines[i:i + 1] = [lines[i][:cut], lines[i][cut + 1:]]
    out = "\n".join(lines)
    if out == text:  # should not happen, but never return the same text
        out = text.replace("\n", " ", 1)
    return out


_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def _other_total(total: str, rng: random.Random) -> str | None:
    m = re.search(r"\d[\d,]*(?:\.\d+)?", total)
    if not m:
        return None
    raw = m.group(0)
    value = float(raw.replace(",", ""))
    decimals = len(raw.split(".")[1]) if "." in raw else 0
    digits = raw.replace(",", "").replace(".", "")
    for _ in range(20):
        how = rng.random()
        if how < 0.35 and len(set(digits)) > 1 and len(digits) >= 2:  # two digits swapped
            i = rng.randrange(len(digits) - 1)
            d = list(digits)
            d[i], d[i + 1] = d[i + 1], d[i]
            new = int("".join(d)) / (10 ** decimals)
        elif how < 0.7:
            new = value * rng.uniform(1.15, 2.5)
        else:
            new = value * rng.uniform(0.35, 0.85)
        new = round(new, decimals)
        if new > 0 and abs(new - value) > 0.009:
            text = f"{new:,.{decimals}f}" if "," in raw else f"{new:.{decimals}f}"
            return total[:m.start()] + text + total[m.end():]
    return None


def _other_date(date: str, rng: random.Random) -> str | None:
    nums = [(m.start(), m.end()) for m in re.finditer(r"\d+", date)]
    if not nums:
        return None
    lengths = [b - a for a, b in nums]
    if len(nums) == 1 and lengths[0] == 8:  # DDMMYYYY or YYYYMMDD
        a = nums[0][0]
        if 1990 <= int(date[a:a + 4]) <= 2039:
            nums, lengths = [(a, a + 4), (a + 4, a + 6), (a + 6, a + 8)], [4, 2, 2]
        else:
            nums, lengths = [(a, a + 2), (a + 2, a + 4), (a + 4, a + 8)], [2, 2, 4]
    year_i = next((i for i, n in enumerate(lengths) if n == 4), len(nums) - 1)
    day_i = 2 if year_i == 0 and len(nums) >= 3 else 0  # YYYY-MM-DD, else the day comes first
    if rng.random() < 0.3 and len(nums) >= 2:
        a, b = nums[year_i]
        year = int(date[a:b])
        new = str(year + rng.choice([-1, 1])).zfill(b - a)[-(b - a):]
    else:
        a, b = nums[day_i]
        day = int(date[a:b])
        options = [d for d in range(1, 29) if d != day]
        new = str(rng.choice(options)).zfill(b - a) if b - a == 2 else str(rng.choice(options))
    return date[:a] + new + date[b:]


def _other_company(company: str, rng: random.Random) -> str | None:
    words = company.split()
    if not words:
        return None
    moves = []
    if re.search(r"\bSDN\.? BHD\.?", company):
        moves.append(lambda: re.sub(r"\bSDN\.? BHD\.?", "S/B", company, count=1))
    if "S/B" in company:
        moves.append(lambda: company.replace("S/B", "SDN BHD", 1))
    if "&" in company:
        moves.append(lambda: company.replace("&", "AND", 1))
    legal = {"SDN", "BHD", "S/B", "(M)", "BHD.", "SDN.", "ENTERPRISE", "TRADING", "&"}
    main = [i for i, w in enumerate(words) if w.upper() not in legal and re.search(r"[A-Z]{4,}", w.upper())] or \
        [i for i, w in enumerate(words) if w.upper() not in legal and re.search(r"[A-Z]{3,}", w.upper())]
    if len(words) >= 3 and main:
        def drop() -> str:
            i = rng.choice(main)
            return " ".join(words[:i] + words[i + 1:])
        moves.append(drop)
    if main:
        def letter() -> str:
            i = rng.choice(main)
            w = list(words[i])
            spots = [j for j, c in enumerate(w) if c.upper() in "AEIOU" and 0 < j]
            if spots:
                j = rng.choice(spots)
                w[j] = rng.choice([v for v in "AEIOU" if v != w[j].upper()])
            else:
                j = rng.randrange(1, len(w))
                w.insert(j, w[j - 1])
            return " ".join(words[:i] + ["".join(w)] + words[i + 1:])
        moves += [letter, letter]  # a misspelling is the most common
    rng.shuffle(moves)
    for move in moves:
        out = move()
        if out and out != company:
            return out
    return None


_FIELD_CHANGERS = {"total": _other_total, "date": _other_date, "company": _other_company}


# --------------------------------------------------------------------------------------------------
# Receipts (json): people, neighbouring documents
# --------------------------------------------------------------------------------------------------

# (given name, family name, as printed)
_PEOPLE = [
    ("wei ming", "tan", "TAN WEI MING"), ("siew ling", "lim", "LIM SIEW LING"), ("kah hoe", "ong", "ONG KAH HOE"),
    ("mei fong", "chong", "CHONG MEI FONG"), ("jia hui", "lee", "LEE JIA HUI"), ("chee keong", "wong", "WONG CHEE KEONG"),
    ("nur aisyah", "ahmad", "NUR AISYAH BINTI AHMAD"), ("hafiz", "ismail", "MUHAMMAD HAFIZ BIN ISMAIL"),
    ("siti nurhaliza", "rahman", "SITI NURHALIZA BT ABD RAHMAN"), ("farid", "hassan", "AHMAD FARID BIN HASSAN"),
    ("nurul izzah", "yusof", "NURUL IZZAH BINTI YUSOF"), ("azlan", "osman", "AZLAN BIN OSMAN"),
    ("rajesh", "kumar", "RAJESH A/L KUMAR"), ("priya", "subramaniam", "PRIYA A/P SUBRAMANIAM"),
    ("kavitha", "raj", "KAVITHA A/P RAJ"), ("suresh", "nair", "SURESH NAIR"), ("daniel", "lau", "DANIEL LAU KOK WAI"),
    ("jessica", "teo", "JESSICA TEO"), ("amanda", "ng", "AMANDA NG SZE YIN"), ("kelvin", "yap", "KELVIN YAP"),
]
_MAIL_DOMAINS = ["gmail.com", "gmail.com", "gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "yahoo.com.my"]


def _mobile(rng: random.Random) -> str:
    prefix = rng.choice(["012", "013", "014", "016", "017", "019", "011"])
    digits = "".join(str(rng.randrange(10)) for _ in range(8 if prefix == "011" else 7))
    style = rng.randrange(4)
    if style == 0:
        return f"{prefix}-{digits}"
    if style == 1:
        return f"{prefix}-{digits[:3]} {digits[3:]}"
    if style == 2:
        return f"+6{prefix}-{digits}"
    return prefix + digits


def _email(person: tuple[str, str, str], rng: random.Random) -> str:
    given, family, _ = person
    g = given.replace(" ", "")
    style = rng.randrange(4)
    if style == 0:
        local = f"{g}.{family}"
    elif style == 1:
        local = f"{given.split()[0]}.{family}"
    elif style == 2:
        local = f"{g}_{family}{rng.randint(80, 99)}"
    else:
        local = f"{g}{family}"
    return f"{local}@{rng.choice(_MAIL_DOMAINS)}"


def _personal_lines(rng: random.Random) -> list[str]:
    person = rng.choice(_PEOPLE)
    name = person[2]
    kind = rng.randrange(5)
    if kind == 0:
        return [rng.choice(["MEMBER: ", "MEMBER NAME : ", "CUSTOMER: "]) + name,
                rng.choice(["TEL: ", "H/P : ", "MOBILE NO: ", "HP NO: "]) + _mobile(rng)]
    if kind == 1:
        return [f"{rng.choice(['CUSTOMER', 'CUST', 'NAME'])} : {name} ({_mobile(rng)})"]
    if kind == 2:
        return [rng.choice(["EMAIL: ", "E-RECEIPT SENT TO: ", "CUSTOMER EMAIL : "]) + _email(person, rng)]
    if kind == 3:
        card = f"{rng.choice(['6012', '7788', '9001'])} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
        return [rng.choice(["LOYALTY CARD NO: ", "MEMBER CARD : ", "PRIVILEGE CARD: "]) + card,
                rng.choice(["CARD HOLDER: ", "HOLDER : ", "NAME: "]) + name,
                f"POINTS EARNED: {rng.randint(1, 99)}"]
    return [f"BILL TO: {name}", f"TEL: {_mobile(rng)}", f"EMAIL: {_email(person, rng)}"]


def _add_personal(text: str, rng: random.Random) -> str:
    lines = text.split("\n")
    extra = _personal_lines(rng)
    where = rng.randrange(3)
    if where == 0:  # after the header block
        body = next((i for i, ln in enumerate(lines[1:], 1) if re.search(
            r"TAX INVOICE|INVOICE|RECEIPT|CASH BILL|BILL NO|DOC(?:UMENT)? NO|DATE|CASHIER|SLIP|TABLE|TRANS", ln.upper())),
            min(5, len(lines)))
        at = min(len(lines), body + rng.randint(0, 1))
    elif where == 1:  # before the total
        at = next((i for i, ln in enumerate(lines) if re.search(r"\bTOTAL\b", ln.upper())), len(lines))
    else:  # at the end
        at = max(1, len(lines) - rng.randint(0, 2))
    return "\n".join(lines[:at] + extra + lines[at:])


_PLACES = [
    ("50450", "KUALA LUMPUR", "W.P. KUALA LUMPUR"), ("47301", "PETALING JAYA", "SELANGOR"),
    ("40000", "SHAH ALAM", "SELANGOR"), ("81300", "SKUDAI", "JOHOR"), ("10050", "GEORGE TOWN", "PULAU PINANG"),
    ("30450", "IPOH", "PERAK"), ("43000", "KAJANG", "SELANGOR"), ("80000", "JOHOR BAHRU", "JOHOR"),
    ("75000", "MELAKA", "MELAKA"), ("88000", "KOTA KINABALU", "SABAH"), ("41050", "KLANG", "SELANGOR"),
]
_STREETS = ["JALAN TUN RAZAK", "JALAN AMPANG", "JALAN SS 2/24", "JALAN PJU 1A/3", "JALAN KLANG LAMA",
            "JALAN SULTAN ISMAIL", "JALAN PUCHONG", "JALAN TEBRAU", "JALAN BUNGA RAYA", "JALAN DATO ONN",
            "PERSIARAN KAYANGAN", "LEBUH PANTAI"]


def _address(rng: random.Random) -> str:
    post, city, state = rng.choice(_PLACES)
    no = rng.choice([f"NO. {rng.randint(1, 120)}", f"LOT {rng.randint(100, 9999)}", f"{rng.randint(1, 80)}-{rng.randint(1, 12)}"])
    return f"{no}, {rng.choice(_STREETS)}, {post} {city}, {state}."


def _dates(rng: random.Random, *offsets: int) -> list[str]:
    """A random document date, then that date plus each offset in days, all printed in one style."""
    import datetime as dt
    base = dt.date(rng.choice([2017, 2018, 2019]), rng.randint(1, 12), rng.randint(1, 28))
    style = rng.randrange(4)
    out = []
    for off in (0, *offsets):
        d = base + dt.timedelta(days=off)
        out.append([f"{d.day:02d}/{d.month:02d}/{d.year}", f"{d.day:02d}-{d.month:02d}-{d.year}",
                    f"{d.day:02d} {_MONTHS[d.month - 1]} {d.year}", f"{d.day:02d}/{d.month:02d}/{d.year % 100:02d}"][style])
    return out


def _render(pairs: list[tuple[str, str]], rng: random.Random) -> list[str]:
    """Label/value pairs laid out the way receipt OCR comes out: same line or value on the next line."""
    split = rng.random() < 0.5
    sep = rng.choice([" : ", ": ", " "])
    out = []
    for label, value in pairs:
        if not value:
            out.append(label)
        elif split and rng.random() < 0.7:
            out += [label + (":" if rng.random() < 0.5 else ""), value]
        else:
            out.append(f"{label}{sep}{value}")
    return out


def _doc_bank_statement(rng: random.Random) -> tuple[list[str], dict]:
    bank = rng.choice(["MALAYAN BANKING BERHAD (3813-K)", "CIMB BANK BERHAD (13491-P)", "PUBLIC BANK BERHAD (6463-H)",
                       "RHB BANK BERHAD (6171-M)", "HONG LEONG BANK BERHAD (97141-X)"])
    addr, date, person = _address(rng), _dates(rng)[0], rng.choice(_PEOPLE)[2]
    balance = rng.uniform(200, 15000)
    lines = [bank, *addr.split(", ", 1), "STATEMENT OF ACCOUNT", "PENYATA AKAUN"]
    lines += _render([("STATEMENT DATE", date), ("ACCOUNT NO", f"{rng.randint(1000, 9999)}-XXXX-{rng.randint(1000, 9999)}"),
                      ("ACCOUNT HOLDER", person)], rng)
    lines += ["DATE", "DESCRIPTION", "DEBIT", "CREDIT", "BALANCE", "BEGINNING BALANCE", f"{balance:,.2f}"]
    for _ in range(rng.randint(3, 7)):
        amt = rng.uniform(5, 900)
        credit = rng.random() < 0.3
        balance += amt if credit else -amt
        lines += [f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}",
                  rng.choice(["IBG TRANSFER", "POS PURCHASE", "ATM WITHDRAWAL", "DUITNOW TRF", "SALARY CREDIT",
                              "JOMPAY BILL PMT", "CARD PAYMENT", "FPX PAYMENT"]),
                  f"{amt:,.2f}" + ("+" if credit else "-"), f"{balance:,.2f}"]
    total = f"{balance:,.2f}"
    lines += ["ENDING BALANCE", total, "PROTECTED BY PIDM UP TO RM250,000 FOR EACH DEPOSITOR"]
    return lines, {"company": bank.split(" (")[0], "date": date, "address": addr, "total": total}


def _doc_utility(rng: random.Random) -> tuple[list[str], dict]:
    company, kind = rng.choice([("TENAGA NASIONAL BERHAD", "BIL ELEKTRIK / ELECTRICITY BILL"),
                                ("PENGURUSAN AIR SELANGOR SDN BHD", "BIL AIR / WATER BILL"),
                                ("INDAH WATER KONSORTIUM SDN BHD", "BIL PEMBETUNGAN / SEWERAGE BILL"),
                                ("SYARIKAT AIR JOHOR SDN BHD", "BIL AIR / WATER BILL")])
    addr, (date, due) = _address(rng), _dates(rng, rng.randint(14, 21))
    prev = rng.randint(1000, 90000)
    used = rng.randint(80, 900) if "ELEKTRIK" in kind else rng.randint(8, 60)
    current = rng.uniform(20, 420)
    arrears = rng.choice([0.0, 0.0, rng.uniform(5, 80)])
    total = f"{current + arrears:.2f}"
    lines = [company, addr, kind]
    lines += _render([("NO. AKAUN", str(rng.randint(10 ** 11, 10 ** 12 - 1))), ("TARIKH BIL", date),
                      ("BACAAN LAMA", str(prev)), ("BACAAN BARU", str(prev + used)),
                      ("PENGGUNAAN", f"{used} {'KWH' if 'ELEKTRIK' in kind else 'M3'}"),
                      ("CAJ SEMASA", f"RM {current:.2f}"), ("TUNGGAKAN", f"RM {arrears:.2f}"),
                      ("JUMLAH PERLU DIBAYAR", f"RM {total}"), ("BAYAR SEBELUM", due)], rng)
    lines += ["SILA BAYAR MELALUI JOMPAY ATAU KAUNTER", "TERIMA KASIH"]
    return lines, {"company": company, "date": date, "address": addr, "total": total}


def _doc_payslip(rng: random.Random) -> tuple[list[str], dict]:
    company = rng.choice(["MEGA JAYA ENGINEERING SDN BHD", "SRI ANGKASA LOGISTICS SDN BHD", "KEDAI RUNCIT WAH SENG",
                          "NOVA TECH SOLUTIONS (M) SDN BHD", "PERUSAHAAN MAJU JAYA ENTERPRISE"])
    addr, person = _address(rng), rng.choice(_PEOPLE)[2]
    month_i, year = rng.randrange(12), rng.choice([2017, 2018])
    day = rng.randint(25, 28)
    date = rng.choice([f"{day:02d}/{month_i + 1:02d}/{year}", f"{day:02d}-{month_i + 1:02d}-{year}",
                       f"{day:02d} {_MONTHS[month_i]} {year}"])
    basic = rng.choice([1500, 1800, 2200, 2800, 3500, 4200, 5600])
    allowance = rng.choice([0, 100, 200, 350])
    ot = round(rng.uniform(0, 400), 2)
    gross = basic + allowance + ot
    epf, socso, eis = round(gross * 0.11), round(gross * 0.005, 2), round(gross * 0.002, 2)
    pcb = round(max(0.0, (gross - 3000) * 0.05), 2)
    net = f"{gross - epf - socso - eis - pcb:.2f}"
    month = ["JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER", "OCTOBER",
             "NOVEMBER", "DECEMBER"][month_i]
    lines = [company, addr, rng.choice([f"PAYSLIP FOR THE MONTH OF {month} {year}", f"SLIP GAJI {month} {year}",
                                        f"PAY ADVICE - {_MONTHS[month_i]} {year}"])]
    lines += _render([("EMPLOYEE", person), ("EMPLOYEE NO", f"E{rng.randint(100, 999)}"), ("PAY DATE", date),
                      ("BASIC SALARY", f"{basic:.2f}"), ("ALLOWANCE", f"{allowance:.2f}"), ("OVERTIME", f"{ot:.2f}"),
                      ("GROSS PAY", f"{gross:.2f}"), ("EPF (11%)", f"{epf:.2f}"), ("SOCSO", f"{socso:.2f}"),
                      ("EIS", f"{eis:.2f}"), ("PCB", f"{pcb:.2f}"), ("NET PAY", net)], rng)
    lines += ["THIS IS A COMPUTER GENERATED PAYSLIP", "NO SIGNATURE IS REQUIRED"]
    return lines, {"company": company, "date": date, "address": addr, "total": net}


def _doc_parcel(rng: random.Random) -> tuple[list[str], dict]:
    company = rng.choice(["POS LAJU NATIONAL COURIER", "GD EXPRESS SDN BHD", "J&T EXPRESS (MALAYSIA) SDN BHD",
                          "CITY-LINK EXPRESS (M) SDN BHD", "NINJA LOGISTICS SDN BHD"])
    addr, date = _address(rng), _dates(rng)[0]
    sender, receiver = rng.sample(_PEOPLE, 2)
    weight = round(rng.uniform(0.2, 12), 2)
    charge = f"{5 + weight * rng.uniform(1.5, 4):.2f}"
    lines = [company, addr, rng.choice(["CONSIGNMENT NOTE", "DELIVERY ORDER", "AIRWAY BILL"])]
    lines += _render([("CN NO", f"{rng.choice(['EP', 'ER', 'JT', 'MY'])}{rng.randint(10 ** 8, 10 ** 9 - 1)}MY"),
                      ("DATE", date), ("SENDER", sender[2]), ("RECEIVER", receiver[2]),
                      ("DESTINATION", rng.choice(_PLACES)[1]), ("PCS", str(rng.randint(1, 3))),
                      ("WEIGHT (KG)", f"{weight:.2f}"), ("SERVICE", rng.choice(["NEXT DAY", "STANDARD", "EXPRESS"])),
                      ("TOTAL CHARGES (RM)", charge)], rng)
    lines += ["TRACK YOUR PARCEL ONLINE", "RECEIVED IN GOOD ORDER AND CONDITION", "SIGNATURE:"]
    return lines, {"company": company, "date": date, "address": addr, "total": charge}


def _doc_hotel(rng: random.Random) -> tuple[list[str], dict]:
    company = rng.choice(["HOTEL SRI PETALING", "THE ZON ALL SUITES RESIDENCES", "GRAND SENTOSA HOTEL",
                          "BAYVIEW HOTEL GEORGETOWN", "HOTEL SEMBILAN KAJANG"])
    addr, (date, check_in), guest = _address(rng), _dates(rng, rng.randint(2, 60)), rng.choice(_PEOPLE)[2]
    nights = rng.randint(1, 5)
    rate = rng.choice([129, 158, 189, 220, 265, 310])
    tax = 10 * nights
    total = f"{nights * rate * 1.06 + tax:.2f}"
    lines = [company, addr, rng.choice(["BOOKING CONFIRMATION", "RESERVATION CONFIRMATION"])]
    lines += _render([("CONFIRMATION NO", str(rng.randint(10 ** 7, 10 ** 8 - 1))), ("BOOKING DATE", date),
                      ("GUEST NAME", guest), ("CHECK-IN", check_in), ("NIGHTS", str(nights)),
                      ("ROOM TYPE", rng.choice(["DELUXE KING", "SUPERIOR TWIN", "FAMILY SUITE", "STANDARD QUEEN"])),
                      ("ROOM RATE", f"RM {rate:.2f}"), ("SST 6%", f"{nights * rate * 0.06:.2f}"),
                      ("TOURISM TAX", f"{tax:.2f}"), ("TOTAL AMOUNT", f"RM {total}")], rng)
    lines += ["CHECK-IN 3PM / CHECK-OUT 12PM", "CANCELLATION FREE UP TO 24 HOURS BEFORE ARRIVAL"]
    return lines, {"company": company, "date": date, "address": addr, "total": total}


def _doc_phone_bill(rng: random.Random) -> tuple[list[str], dict]:
    company = rng.choice(["MAXIS BROADBAND SDN BHD", "CELCOM AXIATA BERHAD", "DIGI TELECOMMUNICATIONS SDN BHD",
                          "U MOBILE SDN BHD"])
    addr, (date, due) = _address(rng), _dates(rng, rng.randint(14, 21))
    plan = rng.choice([48, 68, 98, 128, 158])
    extra = round(rng.uniform(0, 40), 2)
    total = f"{(plan + extra) * 1.06:.2f}"
    lines = [company, addr, rng.choice(["MONTHLY STATEMENT", "BILL / INVOICE"])]
    lines += _render([("BILL DATE", date), ("ACCOUNT NO", str(rng.randint(10 ** 8, 10 ** 9 - 1))),
                      ("PLAN", f"POSTPAID {plan}"), ("MONTHLY COMMITMENT", f"{plan:.2f}"),
                      ("CALLS & SMS", f"{extra:.2f}"), ("SST 6%", f"{(plan + extra) * 0.06:.2f}"),
                      ("TOTAL DUE", f"RM{total}"), ("DUE DATE", due)], rng)
    lines += ["PAY VIA APP, JOMPAY OR AUTO-DEBIT", "THANK YOU FOR BEING WITH US"]
    return lines, {"company": company, "date": date, "address": addr, "total": total}


_DOCUMENTS = [_doc_bank_statement, _doc_utility, _doc_payslip, _doc_parcel, _doc_hotel, _doc_phone_bill]


def _document(kind: int, keys: list[str], rng: random.Random) -> tuple[str, str]:
    lines, fields = _DOCUMENTS[kind](rng)
    # a little OCR noise in lines that carry no value
    for i in rng.sample(range(len(lines)), min(2, len(lines))):
        if not _field_line(lines[i], fields):
            lines[i] = _confuse(lines[i], rng, 1)
    answer = {k: fields.get(k, "") for k in keys}
    return "\n".join(lines), json.dumps(answer, ensure_ascii=False)


# --------------------------------------------------------------------------------------------------
# The injector
# --------------------------------------------------------------------------------------------------


def _evenly(items: list, k: int, rng: random.Random) -> list:
    out = (items * math.ceil(k / len(items)))[:k]
    rng.shuffle(out)
    return out


def inject_c(points: list[AnchorPoint], fmt: str, rate: float = 0.03, seed: int = 0,
             shared: Path | str | None = None) -> tuple[list[AnchorPoint], dict[int, str], set[int]]:
    """Inject the four defects of `fmt` ("text" or "json") into clean `points`.

    Returns (rows renumbered 1..n, {final line: defect code}, {final lines of the originals that an
    injected row copies or contradicts}). See the module docstring for what each defect looks like.
    `shared` is the datasets folder (banking77 is read from it for fmt="text").
    """
    if fmt not in ("text", "json"):
        raise ValueError(f"fmt must be 'text' or 'json', not {fmt!r}")
    rng = random.Random(seed)
    n = len(points)
    k = max(5, round(rate * n))
    if n < 3 * k + 1:
        raise ValueError(f"{n} rows are too few to inject {k} rows of each defect")
    current = list(points)  # originals, possibly modified in place
    modified: dict[int, str] = {}  # original index -> code (modified in place)
    partners: set[int] = set()  # original indexes copied / contradicted
    inserts: list[tuple[AnchorPoint, str, int | None]] = []  # (row, code, original index it sits near)
    order = list(range(n))
    rng.shuffle(order)
    used: set[int] = set()

    def pool(pred=None):
        for i in order:
            if i not in used and (pred is None or pred(i)):
                yield i

    if fmt == "text":
        _inject_text(points, current, k, rng, pool, used, partners, modified, inserts, shared)
    else:
        _inject_json(points, current, k, rng, pool, used, partners, modified, inserts)

    # place the new rows: a quarter right after their original, the rest anywhere
    keyed: list[tuple[float, int, AnchorPoint, str | None, int | None]] = [
        (float(i), 0, p, modified.get(i), i) for i, p in enumerate(current)]
    for j, (row, code, near) in enumerate(inserts):
        if near is not None and rng.random() < 0.25:
            key = near + 0.5 + rng.random() * 0.4
        else:
            key = rng.uniform(-0.5, n - 0.5)
        keyed.append((key, 1 + j, row, code, None))
    keyed.sort(key=lambda t: (t[0], t[1]))

    rows: list[AnchorPoint] = []
    codes: dict[int, str] = {}
    line_of: dict[int, int] = {}
    for line, (_, _, row, code, orig) in enumerate(keyed, 1):
        rows.append(replace(row, line=line))
        if code is not None:
            codes[line] = code
        if orig is not None:
            line_of[orig] = line
    partner_lines = {line_of[i] for i in partners}
    assert not partner_lines & set(codes), "a partner must not carry a defect itself"
    return rows, codes, partner_lines


def _inject_text(points, current, k, rng, pool, used, partners, modified, inserts, shared) -> None:
    # 1. near duplicates
    made = 0
    for i in pool():
        if made == k:
            break
        prompt = _reword_prompt(points[i].prompt, rng)
        if prompt is None:
            continue
        answer = points[i].answer if rng.random() < 0.5 else _reword_answer(points[i].answer, rng)
        inserts.append((_with(points[i], prompt=prompt, answer=answer), "near_duplicate", i))
        used.add(i)
        partners.add(i)
        made += 1
    if made < k:
        raise ValueError(f"only {made} of {k} prompts could be reworded")

    # 2. contradictions, fact kinds cycled evenly
    for kind in _evenly(["amount", "duration", "yesno", "negation"], k, rng):
        flip = _NATURAL_FLIP.get(kind)
        natural = None
        if flip is not None and rng.random() < (0.6 if kind == "negation" else 0.5):
            natural = next(pool(lambda j: flip(points[j].answer, random.Random(0)) is not None), None)
        if natural is not None:
            i = natural
            copy_answer = flip(points[i].answer, rng)
        else:
            i = next(pool())
            yes, no = _fact_pair(kind, _family(points[i]), rng)
            where = rng.randrange(3)
            current[i] = _with(points[i], answer=_insert_sentence(points[i].answer, yes, where))
            copy_answer = _insert_sentence(points[i].answer, no, where)
        prompt = _trivial_change(points[i].prompt, rng)
        inserts.append((_with(current[i], prompt=prompt, answer=copy_answer), "contradiction", i))
        used.add(i)
        partners.add(i)

    # 3. language mismatch: answers replaced in place
    for lang in _evenly(list(LANGUAGES), k, rng):
        i = next(pool())
        table = _FOREIGN[lang]
        fam = _family(points[i])
        answer = rng.choice(table[fam] if fam in table and rng.random() < 0.75 else table["generic"])
        current[i] = _with(points[i], answer=answer)
        modified[i] = "language_mismatch"
        used.add(i)

    # 4. off task: bank questions with bank answers
    if shared is None:
        import os
        shared = Path(os.environ.get("ANCHORTUNE_SHARED_DATA", "../shared/datasets"))
    banking = _load_banking(Path(shared))
    labels = sorted({p.label for p in points if p.label is not None})
    intents = sorted(banking)
    template = points[0] if points else None
    taken: set[str] = set()
    for intent in _evenly(intents, k, rng):
        texts = [t for t in banking[intent] if t not in taken]
        text = rng.choice(texts)
        taken.add(text)
        if not labels:
            label = None
        else:
            shop = _BANK_GROUPS[_BANK_GROUP_OF[intent]][1]
            label = shop if shop in labels and rng.random() < 0.7 else intent
        inserts.append((_new_point(template, text, _bank_answer(intent, rng), label), "off_task", None))


def _inject_json(points, current, k, rng, pool, used, partners, modified, inserts) -> None:
    def fields_of(i):
        try:
            obj = json.loads(points[i].answer)
        except (ValueError, TypeError):
            return None
        return obj if isinstance(obj, dict) else None

    parsed = [fields_of(i) for i in range(len(points))]
    keys = next((list(f) for f in parsed if f), ["company", "date", "address", "total"])

    # 1. near duplicates: a second scan, same fields
    made = 0
    for i in pool(lambda j: parsed[j] is not None and points[j].prompt.count("\n") >= 4):
        if made == k:
            break
        text = _rescan(points[i].prompt, parsed[i], rng)
        inserts.append((_with(points[i], prompt=text), "near_duplicate", i))
        used.add(i)
        partners.add(i)
        made += 1
    if made < k:
        raise ValueError(f"only {made} of {k} receipts could be re-scanned")

    # 2. contradictions: one field changed, kinds cycled evenly
    for field in _evenly(["total", "date", "company"], k, rng):
        change = _FIELD_CHANGERS[field]
        i = next(pool(lambda j: parsed[j] is not None and field in parsed[j]
                      and change(str(parsed[j][field]), random.Random(0)) is not None), None)
        if i is None:  # this field cannot be changed anywhere left: take another
            field, change = "total", _other_total
            i = next(pool(lambda j: parsed[j] is not None and change(str(parsed[j].get(field, "")), random.Random(0))))
        new = dict(parsed[i])
        new[field] = change(str(new[field]), rng)
        text = points[i].prompt if rng.random() < 0.55 else _rescan(points[i].prompt, parsed[i], rng)
        inserts.append((_with(points[i], prompt=text, answer=json.dumps(new, ensure_ascii=False)), "contradiction", i))
        used.add(i)
        partners.add(i)

    # 3. personal data added in place
    for _ in range(k):
        i = next(pool())
        current[i] = _with(points[i], prompt=_add_personal(points[i].prompt, rng))
        modified[i] = "personal_data"
        used.add(i)

    # 4. off task: neighbouring documents
    template = points[0] if points else None
    for kind in _evenly(list(range(len(_DOCUMENTS))), k, rng):
        text, answer = _document(kind, keys, rng)
        inserts.append((_new_point(template, text, answer, None), "off_task", None))
