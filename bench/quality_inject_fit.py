"""The FITTING defect injector: plants known defects in clean anchor points so the quality gate's new rules can be
tuned (fitted) on one part of the data. A different injector, written separately, is used for the final,
independent measurement; this one was written without reading the gate's code, its tests or the other injector,
so that rules fitted here are not fitted to one author's habits twice.

    injected, defects, partners = inject_fit(points, fmt, rate=0.03, seed=0, shared=Path("../shared/datasets"))

`points` are clean rows (one user turn, one assistant turn; `label` = the intent or None). `fmt` is "text" (shop
customer support: Bitext) or "json" (receipts: SROIE, prompt = OCR text, answer = the key fields as JSON).
Each defect type gets `max(5, round(rate * len(points)))` rows. The result is every row renumbered 1..n in its final
order, `{line: defect_code}` for every injected or modified row, and the lines of the ORIGINAL rows an injected row
copies or conflicts with (its partners). Deterministic per seed (one `random.Random(seed)`); no row is modified
twice and an original that is copied is never given a defect of its own. Injected rows are scattered at random
positions, never next to their partner on purpose; they carry the label of the row they copy (off-task rows a
plausible label from the data's own label set, or None where the data has none), and no marker in `extra`.

What each defect looks like, fmt == "text" (written the way careless users produce them):

- near_duplicate: the same request asked again in other words. The request frame is taken off ("can you help me",
  "I don't know how to", "how do I" ...), the core ("cancel purchase 732201349959") gets phrase-level synonyms from
  a shop-support table (purchase->order, parcel->package, bill->invoice, talk to an agent->speak with a
  representative ...) and is put back in a DIFFERENT frame: question <-> imperative <-> passive ("can order
  732201349959 be called off?"), often with added context ("I placed the order a couple of days ago."). The
  answer is kept or lightly reworded (a few phrases swapped outside the {{placeholders}}). Partner = the original.
- contradiction: the same question again (verbatim or lightly reworded) whose answer conflicts with the original's
  on ONE fact: an amount, a number of minutes/hours/days/business days/weeks, a percentage, a time of day, a
  yes/no, or a policy statement negated ("will be charged" -> "will not be charged", "is possible" -> "is not
  possible", "within 5 days" -> "after 5 days", "24/7" -> "Monday to Friday only"). Where the original answer
  states no such fact, a fact sentence fitting the intent is added to the ORIGINAL in place ("Refunds reach your
  card within 5 business days.") and its conflicting version to the copy ("... within 15 business days."); that
  original is still a clean row and is listed only as a partner. Partner = the original.
- off_task: customer-support rows from NEIGHBOURING domains that are not a shop: telecom (SIM, roaming, data
  plans, porting), airline (baggage, check-in, delays), insurance (claims, policies), utilities (meter readings,
  outages, tariffs) and a streaming service; ~50 question/answer templates with slots, answers of 2-5 sentences in
  a support voice. No partner.
- language_mismatch: an English question from the data whose answer is replaced, in place, by one in German,
  Spanish, French, Italian, Portuguese or Dutch, one to four sentences on the question's topic (some with the
  data's {{placeholders}}). No partner.

fmt == "json" (receipts):

- near_duplicate: the same receipt scanned again: line breaks moved (lines merged or split), OCR slips (0/O, 1/I,
  5/S, 8/B) and sometimes a dropped line, all on lines that hold none of the four field values; the answer is the
  identical JSON. Partner = the original.
- contradiction: the same receipt (verbatim or re-scanned) whose answer has ONE field changed: the total's amount,
  the date (day, month or year), or a spelling of the company or address (a letter dropped/doubled/swapped, a
  postcode or street number changed). Partner = the original.
- off_task: neighbouring documents that are not receipts but yield the same JSON keys: restaurant menus,
  quotations, purchase orders, boarding passes, parking tickets and medical appointment slips, generated as
  OCR-like text (Malaysian names, addresses, RM amounts) with varied layouts (label and value on one line or two,
  upper or title case, blocks in different orders); keys without a value are "". No partner.
- personal_data: a real receipt with a private person's data added, in place: "CUSTOMER: <name> <mobile>",
  "Member: <name> / <card no>", "Email: <first>.<last>@yahoo.com", "Deliver to: <name>, <phone>, <home address>",
  an IC number ... after the header, in the middle or at the end. Only a person's data is added; the shop's own
  phone or e-mail in its header is never what is injected. (Some clean SROIE receipts already print a loyalty
  member's name; those rows are left as they are.) No partner.

`shared` is accepted for the common injector interface and not read: every injected text is generated here.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from anchortune.data.records import AnchorPoint

DEFECTS = {"text": ("near_duplicate", "contradiction", "off_task", "language_mismatch"),
           "json": ("near_duplicate", "contradiction", "off_task", "personal_data")}

# ------------------------------------------------------------------------------------------------------------------
# small helpers


def _with(point: AnchorPoint, prompt: str | None = None, answer: str | None = None, line: int = 0,
          label: str | None | bool = False) -> AnchorPoint:
    """A copy of `point` with its last user / last assistant turn replaced."""
    msgs = [dict(m) for m in point.messages]
    for role, new in (("user", prompt), ("assistant", answer)):
        if new is None:
            continue
        idx = [i for i, m in enumerate(msgs) if m["role"] == role]
        if idx:
            msgs[idx[-1]]["content"] = new
        else:
            msgs.append({"role": role, "content": new})
    return AnchorPoint(tuple(msgs), line, point.label if label is False else label, dict(point.extra))


def _new_point(prompt: str, answer: str, label: str | None) -> AnchorPoint:
    return AnchorPoint(({"role": "user", "content": prompt}, {"role": "assistant", "content": answer}), 0, label)


_PLACEHOLDER = re.compile(r"(\{\{[^{}]*\}\})")


def _match_case(src: str, new: str) -> str:
    if src.isupper() and len(src) > 1:
        return new.upper()
    if src[:1].isupper():
        return new[:1].upper() + new[1:]
    return new


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def _jaccard(a: str, b: str) -> float:
    wa, wb = _words(a), _words(b)
    return len(wa & wb) / max(1, len(wa | wb))


# ------------------------------------------------------------------------------------------------------------------
# TEXT: paraphrasing a shop-support request (near_duplicate)

# base verb -> (past participle or None, synonyms usable in the base form)
VERBS: dict[str, tuple[str | None, tuple[str, ...]]] = {
    "cancel": ("cancelled", ("call off", "withdraw", "cancel")),
    "change": ("changed", ("modify", "update", "amend")),
    "check": (None, ("look up", "verify", "find out")),
    "see": (None, ("view", "look at", "check")),
    "view": (None, ("see", "look at")),
    "track": (None, ("follow", "trace", "keep tabs on")),
    "get": (None, ("obtain", "receive")),
    "obtain": ("obtained", ("get", "receive")),
    "receive": (None, ("get",)),
    "request": (None, ("ask for", "apply for")),
    "ask": (None, ("request", "enquire")),
    "open": (None, ("set up", "create")),
    "create": (None, ("open", "set up", "make")),
    "make": (None, ("create", "set up")),
    "close": ("closed", ("shut down", "delete")),
    "delete": ("deleted", ("remove", "close", "get rid of")),
    "remove": ("removed", ("delete", "take out")),
    "edit": ("edited", ("update", "change")),
    "modify": ("modified", ("change", "alter", "edit")),
    "update": ("updated", ("change", "refresh", "edit")),
    "correct": ("corrected", ("fix", "amend")),
    "fix": ("fixed", ("correct", "sort out")),
    "set": ("set up", ("configure", "add")),
    "enter": (None, ("add", "type in")),
    "add": ("added", ("include", "put in")),
    "submit": ("submitted", ("send", "leave")),
    "send": ("sent", ("submit",)),
    "file": ("filed", ("submit", "lodge")),
    "lodge": ("lodged", ("file", "submit")),
    "report": ("reported", ("flag", "let you know about")),
    "inform": (None, ("tell you about", "report")),
    "notify": (None, ("tell you about", "report")),
    "contact": (None, ("get in touch with", "reach")),
    "call": (None, ("phone", "ring")),
    "reach": (None, ("contact", "get hold of")),
    "speak": (None, ("talk",)),
    "talk": (None, ("speak",)),
    "chat": (None, ("talk",)),
    "locate": (None, ("find", "track down")),
    "find": (None, ("locate", "track down")),
    "look": (None, ("search",)),
    "list": (None, ("see", "view")),
    "download": (None, ("get a copy of", "save")),
    "buy": (None, ("purchase", "order")),
    "purchase": (None, ("buy", "order")),
    "order": (None, ("buy", "purchase")),
    "earn": (None, ("buy", "get")),
    "place": (None, ("put in", "make")),
    "subscribe": (None, ("sign up",)),
    "unsubscribe": (None, ("opt out",)),
    "register": (None, ("sign up",)),
    "sign": (None, ("register",)),
    "recover": (None, ("retrieve", "reset")),
    "reset": ("reset", ("recover", "change")),
    "retrieve": (None, ("get back", "recover")),
    "switch": (None, ("move", "change over")),
    "use": (None, ("go with",)),
    "leave": (None, ("write", "post")),
    "write": (None, ("leave", "post")),
    "pay": (None, ("settle",)),
    "return": (None, ("send back",)),
    "exchange": (None, ("swap",)),
    "upgrade": (None, ("move up",)),
    "restore": (None, ("bring back",)),
    "review": (None, ("rate",)),
    "rate": (None, ("review",)),
    "provide": (None, ("give", "send")),
    "give": (None, ("send",)),
    "know": (None, ("find out",)),
    "reimburse": ("reimbursed", ("refund", "pay back")),
    "refund": ("refunded", ("reimburse", "pay back")),
    "ship": ("shipped", ("send", "deliver")),
    "deliver": ("delivered", ("ship", "send")),
    "expect": (None, ("wait for",)),
    "process": ("processed", ("handle",)),
    "go": (None, ("move",)),
    "opt": (None, ("choose",)),
    "log": (None, ("sign",)),
    "fill": ("filled", ("complete",)),
    "have": (None, ("get",)),
}


def _gerunds() -> dict[str, str]:
    out: dict[str, str] = {}
    for base in VERBS:
        forms = {base + "ing"}
        if base.endswith("e") and not base.endswith("ee"):
            forms.add(base[:-1] + "ing")
        if re.search(r"[^aeiou][aeiou][bdglmnprt]$", base):
            forms.add(base + base[-1] + "ing")
        if base == "cancel":
            forms |= {"canceling", "cancelling"}
        for f in forms:
            out[f] = base
    out.pop("seing", None)
    return out


GERUNDS = _gerunds()

# verb + particle -> (past participle or None, synonyms); the particle is consumed with the verb
PHRASAL: dict[tuple[str, str], tuple[str | None, tuple[str, ...]]] = {
    ("sign", "up"): (None, ("register", "enrol", "sign up")), ("set", "up"): ("set up", ("configure", "add", "set up")),
    ("look", "for"): (None, ("find", "search for", "locate")), ("look", "up"): (None, ("find", "check")),
    ("log", "in"): (None, ("sign in",)), ("sign", "in"): (None, ("log in",)), ("find", "out"): (None, ("check",)),
    ("get", "back"): (None, ("recover", "retrieve")), ("fill", "in"): ("filled in", ("complete",)),
    ("close", "down"): ("closed", ("delete",)), ("check", "out"): (None, ("look at", "view")),
    ("change", "to"): (None, ("switch to", "move to", "change over to")), ("switch", "to"): (None, ("move to",
                                                                                                  "change to")),
    ("go", "to"): (None, ("move to", "switch to")), ("talk", "to"): (None, ("speak with", "get through to")),
    ("speak", "to"): (None, ("talk with", "get through to")), ("speak", "with"): (None, ("talk to",)),
    ("talk", "with"): (None, ("speak to",)), ("ask", "for"): (None, ("request", "apply for")),
    ("sign", "out"): (None, ("log out",)), ("inform", "of"): (None, ("report", "tell you about")),
    ("notify", "of"): (None, ("report", "let you know about")), ("inform", "about"): (None, ("report",)),
    ("opt", "out"): (None, ("unsubscribe",)),
}

# phrase -> replacements (applied once, longest phrase first, on the part after the head verb)
SYNONYMS: dict[str, tuple[str, ...]] = {
    "purchase": ("order",), "purchases": ("orders",), "order": ("purchase",), "orders": ("purchases",),
    "package": ("parcel", "shipment"), "parcel": ("package",), "shipment": ("package", "delivery"),
    "delivery address": ("shipping address", "address for deliveries"),
    "shipping address": ("delivery address", "postal address"), "address": ("postal address",),
    "refund": ("reimbursement", "repayment"), "refunds": ("reimbursements",), "reimbursement": ("refund",),
    "compensation": ("refund", "reimbursement"), "rebate": ("refund",), "restitution": ("refund",),
    "bill": ("invoice",), "bills": ("invoices",), "invoice": ("bill", "receipt"), "invoices": ("bills",),
    "account": ("profile",), "profile": ("account",), "password": ("login password", "access password"),
    "newsletter": ("mailing list", "newsletter emails"),
    "customer service": ("customer support", "the support team", "your service desk"),
    "customer support": ("customer service", "the help desk"), "customer assistance": ("customer support",),
    "an agent": ("a representative", "a real person", "a human"), "agent": ("representative",),
    "an operator": ("a human agent",), "a live agent": ("a real person",), "someone": ("a person",),
    "feedback": ("a review", "my opinion"), "complaint": ("grievance",), "claim": ("complaint",),
    "reclamation": ("complaint",), "payment methods": ("ways to pay", "payment options"),
    "payment options": ("ways to pay", "payment methods"), "payment modalities": ("payment options",),
    "early exit fee": ("early termination charge", "cancellation penalty"),
    "early exit fees": ("early termination charges",), "early exit penalty": ("early termination fee",),
    "cancellation fee": ("cancellation charge", "fee for cancelling"),
    "cancellation fees": ("cancellation charges", "fees for cancelling"),
    "cancellation charges": ("cancellation fees",), "status": ("progress", "state"),
    "ETA": ("estimated arrival",), "item": ("product", "article"), "items": ("products",),
    "product": ("item", "article"), "products": ("items",), "article": ("item",), "articles": ("items",),
    "issue": ("problem",), "issues": ("problems",), "problem": ("issue", "trouble"), "problems": ("issues",),
    "error": ("problem", "glitch"), "errors": ("problems",), "trouble": ("problem",),
    "sign-up": ("registration",), "signup": ("registration",), "registration": ("sign-up",),
    "money back policy": ("returns policy", "reimbursement rules"), "refund policy": ("returns policy",),
    "reimbursement policy": ("refund rules",), "delivery": ("shipping",), "shipping": ("delivery",),
    "options": ("choices",), "online payment": ("web payment",), "online payments": ("card payments online",),
    "ur": ("your",), "u": ("you",), "ya": ("you",), "your company": ("your store", "your shop"),
    "your product": ("your goods",), "some": ("a few",), "a few": ("some",), "several": ("a few",),
    "corporate newsletter": ("company newsletter",), "free account": ("basic account",),
    "secondary": ("second",), "another": ("a second",),
    "what time": ("at which hours",), "how long": ("how much time",),
    "how soon": ("how quickly",), "information": ("details",), "data": ("details",),
}
_SYN_RE = re.compile(r"(?<![\w{])(" + "|".join(re.escape(k) for k in sorted(SYNONYMS, key=len, reverse=True))
                     + r")(?![\w}])", re.I)

# request frames stripped from the start of an instruction (checked in order)
_PREFIXES = [r"(?:i )?(?:do not|don't|dont|dunno) know (?:what (?:i )?(?:need|have|should|must|got)? ?(?:to do )?"
             r"|what to do )to ",
             r"(?:i )?(?:do not|don't|dont|dunno) know how (?:i |to )?(?:can |could |should |would |do )?(?:to )?",
             r"(?:can|could|would|will) (?:you|u|ya) (?:please )?(?:help|assist) me (?:to |with |in |for )?",
             r"(?:i )?(?:need|want|would like|'d like|wanna|require|am looking for|'m looking for) (?:some )?"
             r"(?:help|assistance|support) (?:to |with |in |for )?",
             r"(?:i )?(?:need|want|would like|wanna) you to help me (?:to )?",
             r"(?:please )?(?:help|assist|assistance|support)(?: me)? (?:to |with |in |for )?",
             r"(?:i ?)?(?:would like|'d like|d like|want|wanna|need|have|have got|'ve got|got|try|am trying|"
             r"'m trying|m trying|im trying|am going|'m going|gotta|would love|'d love) to ",
             r"how (?:do|can|could|should|would|will|shall) (?:i|we) ", r"how (?:to|do you) ",
             r"where (?:can|could|do|should|would) i ", r"where to ",
             r"what (?:do|should|would|can) i (?:need to |have to |got to )?do to ",
             r"(?:is it|is that) possible to ", r"is there (?:a |any )?(?:way|option|section|place) to ",
             r"(?:i )?(?:wanna|want|need) ", r"(?:i )?(?:can't|cant|cannot|can not|could not|couldn't) ",
             r"(?:i )?(?:have|had|got|'ve got|ve got) (?:a |an |some )?(?:problem|issue|error|trouble|question)s? "
             r"(?:with |about |when |while |in )?",
             r"there (?:is|are|'s) (?:a |an |some )?(?:problem|issue|error|trouble)s? (?:with |when |in )?",
             r"can i ", r"could i ", r"(?:show|tell|let) me "]
_PREFIX_RE = [re.compile("^" + p, re.I) for p in _PREFIXES]
_SUFFIX_RE = re.compile(r"(?:[,\s]*(?:(?:can|could|would) (?:you|u|ya) help me|i need (?:some )?(?:help|assistance)|"
                        r"help me|please|pls|plz|thanks|thank you))*\s*[?.!]*\s*$", re.I)

_QUESTION_FRAMES = ["how do I {v}?", "how can I {v}?", "what's the easiest way to {v}?", "is there a way to {v}?",
                    "could you tell me how to {v}?", "what should I do to {v}?", "where do I go to {v}?",
                    "can I {v} online?", "what are the steps to {v}?", "would it be possible to {v}?"]
_IMPERATIVE_FRAMES = ["please help me {v}", "I'd like to {v}, please", "I need to {v}", "show me how to {v}",
                      "I want to {v}, what are the steps", "help me {v} please", "I have to {v} asap",
                      "walk me through how to {v}", "I'm looking to {v}", "need to {v} today"]
_GERUND_FRAMES = ["I need some help with {g}", "question about {g}", "I'm having trouble {g}", "any advice on {g}?",
                  "having difficulties {g}", "can you assist with {g}?"]
_PASSIVE_FRAMES = ["can {o} be {pp}?", "I'd like {o} {pp}", "how do I get {o} {pp}?", "I want {o} to be {pp}",
                   "is it possible to have {o} {pp}?", "could {o} be {pp} for me?", "I need {o} {pp}, how?"]
_CLAUSE_STARTS = {"do", "does", "did", "is", "are", "was", "were", "can", "could", "will", "would", "should", "what",
                  "when", "where", "which", "who", "why", "how", "i", "i'm", "im", "my", "you", "it", "there", "in",
                  "from", "we", "they", "your", "ur", "u"}
_CLAUSE_FRAMES = ["Quick question: {c}{p}", "Hi there, {c}{p}", "{c}{p} Thanks in advance.", "Hello! {c}{p}",
                  "Sorry to bother you, {c}{p}", "{c}{p} Please get back to me.", "Hey, {c}{p} Cheers."]
_NP_FRAMES = ["I have a question about {n}", "can you help me with {n}?", "{n} - what can I do?",
              "I need help regarding {n}", "what's going on with {n}?", "need support with {n}"]

_CONTEXT = {
    "order": ["I placed the order a couple of days ago", "I bought it last week", "I ordered it on Monday",
              "it was meant to be a birthday present", "I only ordered it this morning"],
    "refund": ["the item arrived damaged", "I sent the product back last week", "it has been two weeks already",
               "the parcel never arrived", "I returned it in the original box"],
    "account": ["I've had my account for a few years", "I'm using the mobile app", "I signed up last month",
                "I'm on my laptop right now", "my email address has changed"],
    "shipping": ["I'm moving house next week", "I just moved to a new flat", "the old address is my parents'",
                 "I'm away on holiday this month"],
    "invoice": ["I need it for my tax return", "my accountant is asking for it", "my company has to reimburse me",
                "I lost the paper copy"],
    "payment": ["I'm trying to pay from my phone", "my card was declined yesterday", "I'm paying for a gift",
                "I bought it last week"],
    "contact": ["I've been waiting for a while", "the chatbot couldn't help me", "it's rather urgent",
                "I tried the FAQ first"],
    "feedback": ["I had a bad experience last week", "I shopped with you recently", "the delivery was late twice",
                 "your staff were very helpful"],
    "newsletter": ["I get too many emails", "a friend recommended it", "I want to hear about sales"],
    "generic": ["quick question", "I'm new to your store", "sorry if this was asked before", "I'm a bit lost"],
}

_GROUP_OF = {"cancel_order": "order", "change_order": "order", "place_order": "order", "track_order": "order",
             "get_refund": "refund", "track_refund": "refund", "check_refund_policy": "refund",
             "create_account": "account", "edit_account": "account", "delete_account": "account",
             "switch_account": "account", "registration_problems": "account", "recover_password": "account",
             "change_shipping_address": "shipping", "set_up_shipping_address": "shipping",
             "delivery_options": "shipping", "delivery_period": "shipping", "check_invoice": "invoice",
             "get_invoice": "invoice", "check_payment_methods": "payment", "payment_issue": "payment",
             "check_cancellation_fee": "payment", "contact_customer_service": "contact",
             "contact_human_agent": "contact", "complaint": "feedback", "review": "feedback",
             "newsletter_subscription": "newsletter"}
_GROUP_WORDS = [("refund", r"refund|reimburs|money back|compensat|rebat|restitution"),
                ("invoice", r"invoice|bill\b|receipt"), ("payment", r"pay|card|fee|charge"),
                ("shipping", r"address|deliver|ship|arriv"), ("account", r"account|profile|password|sign|regist"),
                ("contact", r"agent|operator|customer service|support|call|human|talk|speak"),
                ("feedback", r"complain|review|feedback|claim|reclam"), ("newsletter", r"newsletter|subscri"),
                ("order", r"order|purchase|buy|track|parcel|package")]


def _group(point: AnchorPoint) -> str:
    if point.label in _GROUP_OF:
        return _GROUP_OF[point.label]
    text = point.prompt.lower()
    for group, pat in _GROUP_WORDS:
        if re.search(pat, text):
            return group
    return "generic"


def _synonymise(text: str, rng: random.Random, prob: float = 0.7) -> str:
    def repl(m: re.Match) -> str:
        src = m.group(0)
        options = SYNONYMS.get(src) or SYNONYMS.get(src.lower()) or ()
        if not options or rng.random() > prob:
            return src
        return _match_case(src, rng.choice(options)) if src not in ("ETA",) else rng.choice(options)
    return _SYN_RE.sub(repl, text)


def _split_request(prompt: str) -> tuple[str, str]:
    """(frame kind of the original: 'q' | 'imp' | 'bare', the core request with the frame taken off)."""
    text = re.sub(r"\s+", " ", prompt.strip())
    kind = "q" if text.endswith("?") or re.match(r"(?i)(how|where|what|is|can|could|do|does)\b", text) else "imp"
    core = _SUFFIX_RE.sub("", text)
    stripped = False
    for _ in range(3):
        for rx in _PREFIX_RE:
            m = rx.match(core)
            if m and m.end() < len(core):
                core = core[m.end():]
                stripped = True
                break
        else:
            break
    core = _SUFFIX_RE.sub("", core).strip(" ,.")
    if not stripped:
        kind = "bare"
    return kind, core


def _head(core: str) -> tuple[str, str, str]:
    """('base'|'np', base verb (with its particle, as 'set up') or '', rest) for a core request."""
    words = core.split(" ", 1)
    first, rest = words[0], (words[1] if len(words) > 1 else "")
    low = first.lower()
    base = GERUNDS.get(low) or (low if low in VERBS else "")
    if not base:
        return "np", "", core
    nxt = rest.split(" ", 1)
    if (base, nxt[0].lower()) in PHRASAL:
        return "base", base + " " + nxt[0].lower(), (nxt[1] if len(nxt) > 1 else "")
    if base in ("set", "sign") and rest.lower().endswith(" up"):  # 'set my address up'
        return "base", base + " up", rest[:-3]
    return "base", base, rest


def _verb_info(verb: str) -> tuple[str | None, tuple[str, ...]]:
    if " " in verb:
        v, particle = verb.split(" ", 1)
        return PHRASAL.get((v, particle), (None, (verb,)))
    return VERBS.get(verb, (None, ()))


def _object_phrase(rest: str) -> str | None:
    """The object of a verb phrase, made to stand alone as a subject ('order 123', 'my delivery address')."""
    rest = rest.strip()
    if not rest or re.match(r"(?i)(to|with|in|on|at|for|from|about|of|up|out|if|how|what|where|when|why|which|"
                            r"whether|some|a few|few)\b", rest):
        return None
    if len(rest.split()) > 6:
        return None
    if re.match(r"(?i)(my|the|your|ur|our|this|that|these|those|a|an|his|her|their)\b", rest):
        return re.sub(r"(?i)^ur\b", "your", rest)
    if re.match(r"(?i)(order|purchase|invoice|bill)\s*#?\d", rest):
        return rest
    return "my " + rest


def _base_phrase(verb: str, rest: str, rng: random.Random) -> str:
    synonyms = _verb_info(verb)[1]
    head = rng.choice(synonyms) if synonyms and rng.random() < 0.75 else verb
    rest = _synonymise(rest, rng)
    return (head + " " + rest).strip()


def _gerund_of(phrase: str) -> str:
    first, _, rest = phrase.partition(" ")
    inv = {b: g for g, b in sorted(GERUNDS.items()) if not re.search(r"([^aeiou])\1ing$", g) or b == "cancel"}
    if first in ("cancel",):
        g = "cancelling"
    elif re.fullmatch(r"[^aeiou]+[aeiou][bdgmnpt]", first) or first in ("submit", "enrol", "regret"):
        g = first + first[-1] + "ing"
    elif first in inv:
        g = inv[first]
    elif first.endswith("e") and not first.endswith("ee"):
        g = first[:-1] + "ing"
    else:
        g = first + "ing"
    return (g + " " + rest).strip()


def paraphrase_request(point: AnchorPoint, rng: random.Random) -> str:
    """The same request in other words: synonyms and a different sentence structure, often with added context."""
    original = point.prompt
    kind, core = _split_request(original)
    form, verb, rest = _head(core)
    kept = ""  # a clause of the request that is context, kept in the user's words ('I can't afford this order')
    if form == "np" and "," in core:
        clauses = [c.strip() for c in core.split(",") if c.strip()]
        for j, clause in enumerate(clauses):
            _kind, sub = _split_request(clause)
            f2, v2, r2 = _head(sub)
            if f2 == "base":
                form, verb, rest = f2, v2, r2
                kept = ", ".join(c for jj, c in enumerate(clauses) if jj != j)
                break
    group = _group(point)
    best = ""
    for _attempt in range(8):
        if form == "base":
            phrase = _base_phrase(verb, rest, rng)
            choices = []
            if kind != "q":
                choices += ["q"] * 3
            if kind != "imp":
                choices += ["imp"] * 3
            pp = _verb_info(verb)[0]
            obj = _object_phrase(rest)
            if pp and obj:
                choices += ["passive"] * 3
            choices += ["gerund"]
            style = rng.choice(choices)
            if style == "q":
                sentence = rng.choice(_QUESTION_FRAMES).format(v=phrase)
            elif style == "imp":
                sentence = rng.choice(_IMPERATIVE_FRAMES).format(v=phrase)
            elif style == "passive":
                sentence = rng.choice(_PASSIVE_FRAMES).format(o=_synonymise(obj, rng), pp=pp)
            else:
                sentence = rng.choice(_GERUND_FRAMES).format(g=_gerund_of(phrase))
        elif core.split(" ", 1)[0].lower() in _CLAUSE_STARTS or len(core.split()) > 7:
            # a whole clause ('do you ship to Toronto', "I'm waiting for a refund of $12"): reworded and reframed
            clause = _synonymise(core, rng, prob=0.9)
            q = kind == "q" or re.match(r"(?i)(?:in |at |from |for )?(do|does|did|is|are|can|could|will|would|"
                                        r"should|what|when|where|which|who|why|how)\b", clause)
            sentence = rng.choice(_CLAUSE_FRAMES).format(c=clause, p="?" if q else ".")
        else:
            np = _synonymise(core, rng, prob=0.9)
            sentence = rng.choice(_NP_FRAMES).format(n=np)
        if kept or rng.random() < 0.6:
            ctx = kept or rng.choice(_CONTEXT.get(group, _CONTEXT["generic"]))
            how = rng.random()
            if how < 0.4:
                sentence = ctx[0].upper() + ctx[1:] + ". " + sentence[0].upper() + sentence[1:]
            elif how < 0.7:
                sentence = sentence.rstrip("?") + (", " if not sentence.endswith("?") else " - ") + ctx + (
                    "?" if sentence.endswith("?") else "")
            else:
                sentence = sentence + (" " if sentence.endswith("?") else ". ") + ctx[0].upper() + ctx[1:] + "."
        style_case = rng.random()
        if style_case < 0.3:
            sentence = sentence.lower()
        elif style_case < 0.8:
            sentence = sentence[0].upper() + sentence[1:]
            sentence = re.sub(r"([.!?] )([a-z])", lambda m: m.group(1) + m.group(2).upper(), sentence)
        sentence = re.sub(r"\s+", " ", sentence).strip()
        sentence = re.sub(r"\b([Aa]) (?=[aeiou])", r"\1n ", sentence)
        sentence = re.sub(r"\b([Aa])n (?=[b-df-hj-np-tv-z])", r"\1 ", sentence)
        sentence = sentence.replace("?.", "?").replace("..", ".").replace("?,", ",").replace("??", "?")
        if sentence.lower() != original.lower() and _jaccard(sentence, original) < 0.6:
            return sentence
        if not best or _jaccard(sentence, original) < _jaccard(best, original):
            best = sentence
    return best


# light rewording of an answer (a few phrases swapped; placeholders untouched)
ANSWER_SWAPS: dict[str, tuple[str, ...]] = {
    "I understand": ("I realise", "I see"), "I'm here to help": ("I'm happy to help", "I'll gladly help"),
    "I'm here to assist": ("I'm glad to assist",), "Log in to": ("Sign in to",), "log in to": ("sign in to",),
    "Sign in to": ("Log in to",), "Navigate to": ("Go to", "Head to"), "navigate to": ("go to",),
    "Look for": ("Find", "Locate"), "look for": ("find",), "Locate": ("Find",),
    "please don't hesitate to": ("feel free to", "do not hesitate to"),
    "Please don't hesitate to": ("Feel free to",), "assist you": ("help you",), "assistance": ("help",),
    "Follow these steps": ("Here is what to do", "Please follow the steps below"), "Click on": ("Select", "Tap"),
    "click on": ("select",), "ensure": ("make sure",), "additional": ("further",), "further": ("additional",),
    "Once you have": ("After you have",), "If you encounter": ("If you run into", "Should you face"),
    "reach out to": ("contact", "get in touch with"), "dedicated": ("friendly",), "section": ("area", "page"),
    "option": ("setting",), "Thank you": ("Thanks",), "promptly": ("quickly",), "kindly": ("please",),
    "I apologize": ("I'm sorry",), "I'm sorry": ("I apologize",), "necessary": ("required",),
    "Rest assured": ("Be assured",), "happy to": ("glad to",), "glad to": ("happy to",),
}
_SWAP_RE = re.compile(r"(?<!\w)(" + "|".join(re.escape(k) for k in sorted(ANSWER_SWAPS, key=len, reverse=True))
                      + r")(?!\w)")


def reword_answer(answer: str, rng: random.Random, swaps: int) -> str:
    """Swap up to `swaps` phrases (each occurrence chosen at random) outside placeholders."""
    spots = [m for m in _SWAP_RE.finditer(answer)
             if not any(a.start() <= m.start() < a.end() for a in _PLACEHOLDER.finditer(answer))]
    if not spots:
        return answer
    chosen = sorted(rng.sample(spots, min(swaps, len(spots))), key=lambda m: m.start(), reverse=True)
    for m in chosen:
        answer = answer[:m.start()] + rng.choice(ANSWER_SWAPS[m.group(0)]) + answer[m.end():]
    return answer


def light_reword_question(prompt: str, rng: random.Random) -> str:
    """The same question with a small surface change (a synonym, case, punctuation or 'please')."""
    for _ in range(6):
        out = prompt
        move = rng.randrange(5)
        if move == 0:
            out = _synonymise(prompt, rng, prob=0.5)
        elif move == 1:
            out = prompt.rstrip("?.! ") + ("?" if not prompt.rstrip().endswith("?") else "")
        elif move == 2:
            out = prompt[:1].swapcase() + prompt[1:]
        elif move == 3:
            out = prompt.rstrip("?.! ") + rng.choice([", please", " please", " pls", " thanks", ", thank you"]) + (
                "?" if prompt.rstrip().endswith("?") else "")
        else:
            out = re.sub(r"\bi\b", "I", prompt) if re.search(r"\bi\b", prompt) else prompt.lower()
        if out != prompt:
            return out
    return prompt + " ?"


# ------------------------------------------------------------------------------------------------------------------
# TEXT: one conflicting fact (contradiction)

_NUMWORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
_UNIT = (r"(?:business |working |calendar )?(?:minutes?|hours?|days?|weeks?|months?|years?|times|characters|"
         r"(?:monthly )?instalments|shipping addresses)")


def _other_number(n: int, rng: random.Random, unit: str = "") -> int:
    if n <= 3:
        cands = [n + 2, n + 4, n + 6, n + 9, 10 * n if n else 7]
    elif n <= 12:
        cands = [n * 2, n * 3, n + 5, max(1, n // 3), n + 10]
    elif n <= 60:
        cands = [n * 2, n // 2, n + 30, n * 3, max(1, n // 4)]
    else:
        cands = [n * 2, n // 2, n * 3, n + 100, max(1, n // 5)]
    if "hour" in unit and n <= 12:
        cands = [c for c in cands if c != n] + [n + 48]
    cands = [c for c in cands if c != n and c > 0]
    return rng.choice(cands)


def _fmt_money(value: float, like: str) -> str:
    if "." in like:
        return f"{value:.2f}"
    if "," in like:
        return f"{int(round(value)):,}"
    return str(int(round(value)))


def _money_sub(m: re.Match, rng: random.Random) -> str:
    cur, num = m.group(1), m.group(2)
    value = float(num.replace(",", ""))
    new = value
    while abs(new - value) < 0.005:
        new = rng.choice([value * 2, value * 3, value / 2, value + 10, value + 25, value * 1.5, value - 5
                          if value > 6 else value + 7])
        if not ("." in num) and not float(new).is_integer():
            new = round(new)
    return cur + _fmt_money(new, num)


def _duration_sub(m: re.Match, rng: random.Random) -> str:
    a, b, unit = m.group(1), m.group(2), m.group(3)
    unit_text = unit.strip()
    if rng.random() < 0.15 and re.search(r"days?$", unit_text) and not b:
        # the same number, another unit: 5 days -> 5 weeks
        return a + " " + ("weeks" if int(a) != 1 else "week")
    na = _other_number(int(a), rng, unit_text)
    if b:
        nb = int(b) + (na - int(a))
        if nb <= na:
            nb = na + max(1, int(b) - int(a))
        sep = m.group(0)[len(a):m.group(0).index(b, len(a))]
        return f"{na}{sep}{nb}{unit}"
    if na == 1:
        unit = re.sub(r"s$", "", unit)
    elif int(a) == 1 and not unit.endswith("s"):
        unit = unit + "s"
    return f"{na}{unit}"


def _numword_sub(m: re.Match, rng: random.Random) -> str:
    word, unit = m.group(1), m.group(2)
    n = _NUMWORDS.index(word.lower())
    new = _other_number(n, rng, unit)
    text = _NUMWORDS[new] if new < len(_NUMWORDS) else str(new)
    if new != 1 and re.search(r"(minute|hour|day|week|month|year)$", unit):
        unit = unit + "s"
    if new == 1:
        unit = re.sub(r"s$", "", unit)
    return _match_case(word, text) + unit


def _percent_sub(m: re.Match, rng: random.Random) -> str:
    n = int(m.group(1))
    new = rng.choice([c for c in (n * 2, n // 2, n + 10, n + 25, 100 - n, 5, 50) if 0 < c <= 100 and c != n])
    return f"{new}{m.group(2)}"


def _clock_sub(m: re.Match, rng: random.Random) -> str:
    h = int(m.group(1))
    new = rng.choice([x for x in range(1, 13) if abs(x - h) >= 2])
    return f"{new}{m.group(2) or ''}{m.group(3)}{m.group(4)}"


def _date_sub(m: re.Match, rng: random.Random) -> str:
    month, day = m.group(1), int(m.group(2))
    new = rng.choice([d for d in range(1, 29) if abs(d - day) >= 3])
    return f"{month} {new}"


# (pattern, replacement-or-function); numeric ones first. Applied on text outside placeholders.
_NUMERIC_SUBS = [
    (re.compile(r"(\$|€|£|RM ?|USD ?|EUR ?)(\d{1,3}(?:,\d{3})+(?:\.\d{2})?|\d+(?:\.\d{2})?)"), _money_sub),
    (re.compile(r"\b(\d{1,4})(?:\s*(?:-|–|to)\s*(\d{1,4}))?(\s+" + _UNIT + r")\b"), _duration_sub),
    (re.compile(r"\b(" + "|".join(_NUMWORDS[1:]) + r")(\s+" + _UNIT + r")\b", re.I), _numword_sub),
    (re.compile(r"\b(\d{1,3})(\s?%|\s?percent)"), _percent_sub),
    (re.compile(r"\b(\d{1,2})(:\d{2})?(\s?)(am|pm|a\.m\.|p\.m\.)", re.I), _clock_sub),
    (re.compile(r"\b(January|February|March|April|May|June|July|August|September|October|November|December) "
                r"(\d{1,2})\b"), _date_sub),
]
# policy statements and their negations (both directions)
_POLARITY = [
    ("will be charged", "will not be charged"), ("is possible", "is not possible"),
    ("are possible", "are not possible"), ("can be", "cannot be"), ("is required", "is not required"),
    ("are required", "are not required"), ("is included", "is not included"), ("are included", "are not included"),
    ("is available", "is not available"), ("are available", "are not available"), ("is refundable",
                                                                                     "is non-refundable"),
    ("is free of charge", "costs a fee of $15"), ("are free of charge", "cost a fee of $10 each"),
    ("including", "excluding"), ("always", "never"),
    ("will receive", "will not receive"), ("is accepted", "is not accepted"), ("are accepted", "are not accepted"),
    ("applies", "does not apply"), ("do not need", "need"), ("does not", "does"), ("can", "cannot"),
]
_POLAR_RE = [(re.compile(r"\b" + re.escape(a) + r"\b"), b) for a, b in _POLARITY] + \
            [(re.compile(r"\b" + re.escape(b) + r"\b"), a) for a, b in _POLARITY]
_STRONG_SUBS = [  # safe on any support answer: a real fact turned around
    (re.compile(r"\b24/7\b"), lambda m, r: r.choice(["Monday to Friday only", "on weekdays from 9 am to 5 pm",
                                                      "during office hours only"])),
    (re.compile(r"\bwithin(?= (?:\d|one|two|three|four|five|six|seven|ten|the next))"),
     lambda m, r: r.choice(["after", "only after"])),
    (re.compile(r"\bwill be charged\b"), lambda m, r: "will not be charged"),
    (re.compile(r"\bwill not be charged\b"), lambda m, r: "will be charged"),
    (re.compile(r"\bfree of charge\b"), lambda m, r: r.choice(["subject to a $15 fee", "charged at $9.99"])
     if re.search(r"\b(is|are|be)\s+$", m.string[:m.start()]) else r.choice(["for a fee of $15", "for $9.99"])),
    (re.compile(r"^Yes, (you|we|they|it) (\w+)", re.M | re.I), lambda m, r: _no_sub(m)),
]


def _no_sub(m: re.Match) -> str:
    """'Yes, we do deliver' -> 'No, we do not deliver'; 'Yes, you can place' -> 'No, you cannot place'."""
    who, word = m.group(1), m.group(2)
    low = word.lower()
    if low == "can":
        return f"No, {who} cannot"
    if low in ("do", "does", "will", "are", "is", "have", "has", "should", "would", "offer"):
        return f"No, {who} {word} not" if low != "offer" else f"No, {who} do not offer"
    if who.lower() == "it":
        return f"No, it does not {low.rstrip('s')}"
    return f"No, {who} do not {word}"


def _sites(text: str, polarity: bool) -> list[tuple]:
    """(start, end, replacement text or function, match) for each place where one fact can be turned around
    (outside placeholders); `polarity` adds the policy-statement negations."""
    holes = [(a.start(), a.end()) for a in _PLACEHOLDER.finditer(text)]
    inside = lambda s: any(a <= s < b for a, b in holes)  # noqa: E731
    out: list[tuple[int, int, object, re.Match]] = []
    for rx, fn in _NUMERIC_SUBS + _STRONG_SUBS:
        for m in rx.finditer(text):
            if not inside(m.start()):
                out.append((m.start(), m.end(), fn, m))
    if polarity:
        for rx, rep in _POLAR_RE:
            for m in rx.finditer(text):
                if not inside(m.start()):
                    out.append((m.start(), m.end(), rep, m))
    # drop sites that overlap a numeric one found earlier
    kept: list = []
    for s in out:
        if not any(s[0] < k[1] and k[0] < s[1] for k in kept):
            kept.append(s)
    return kept


def conflict_text(text: str, rng: random.Random, polarity: bool) -> str | None:
    """The text with ONE fact turned around, or None where it states none."""
    sites = _sites(text, polarity)
    if not sites:
        return None
    numeric = [s for s in sites if callable(s[2])]
    start, end, rep, m = rng.choice(numeric if numeric and rng.random() < 0.7 else sites)
    new = rep(m, rng) if callable(rep) else rep
    return text[:start] + new + text[end:]


# one fact sentence per slot filling; every one of them carries a fact conflict_text can turn around
FACTS: dict[str, list[str]] = {
    "order": ["Orders can be cancelled free of charge within {h} hours of purchase.",
              "Orders placed before {clock} pm are processed the same day.",
              "Changes to an order are possible until {h} hours after it was placed.",
              "The minimum order value is ${x}.", "Most orders are dispatched within {d} business days.",
              "Tracking information is updated every {h} hours."],
    "cancel_fee": ["A cancellation fee of ${x} applies once the order has shipped.",
                   "Cancelling within {h} hours of placing the order is free of charge.",
                   "The early exit fee is {p}% of the remaining subscription value.",
                   "For cancellations after dispatch, you will be charged the return shipping cost."],
    "refund": ["Refunds reach your card within {d} business days.",
               "You can request a full refund within {dd} days of delivery.",
               "Return shipping is free of charge for orders over ${x}.",
               "Refunds to store credit are processed within {h} hours.",
               "A restocking fee of {p}% applies to opened items."],
    "account": ["Creating an account is free of charge.", "The password reset link is valid for {h} hours.",
                "Passwords must be at least {n} characters long.",
                "Your data is permanently deleted {dd} days after the account is closed.",
                "Changes to your profile take effect within {m} minutes.",
                "You will receive a confirmation e-mail within {m} minutes.",
                "Upgrading to a premium account costs ${x} per year."],
    "shipping": ["Standard delivery takes {d} to {d2} business days.",
                 "Express shipping costs ${x} and arrives within {d} business days.",
                 "Free standard shipping applies to orders over ${x}.",
                 "You can save up to {n} shipping addresses in your account.",
                 "The shipping address can be changed while the order status is 'Processing'.",
                 "International orders usually arrive within {dd} days."],
    "invoice": ["Invoices are kept in your account for {n} years.",
                "Invoices are sent by e-mail within {h} hours of dispatch.",
                "Printed copies of an invoice cost ${x} each.",
                "Corrected invoices are issued within {d} business days."],
    "payment": ["We accept payment in {n} monthly instalments for orders over ${x}.",
                "Failed payments are retried automatically after {h} hours.",
                "Payments by bank transfer must arrive within {d} business days.",
                "A surcharge of {p}% applies to payments by credit card.",
                "Cash on delivery is available for orders under ${x}."],
    "contact": ["Our phone line is open from {open} am to {clock} pm, Monday to Friday.",
                "The average waiting time on the phone is {m} minutes.",
                "On weekends, live chat is available from {open} am to {clock} pm.",
                "We answer e-mails within {h} hours."],
    "feedback": ["We reply to every complaint within {d} business days.",
                 "Reviews are published within {h} hours after moderation.",
                 "Every published review earns a {p}% discount voucher.",
                 "Complaints can be escalated to a supervisor after {d} business days."],
    "newsletter": ["New subscribers receive a {p}% welcome discount.",
                   "The newsletter is sent {n} times a month.",
                   "Unsubscribing takes effect within {d} days.",
                   "Subscribers are notified of sales {h} hours before everyone else."],
}
FACTS["generic"] = FACTS["order"] + FACTS["contact"]


def _fact_sentence(point: AnchorPoint, rng: random.Random) -> str:
    group = "cancel_fee" if point.label == "check_cancellation_fee" else _group(point)
    template = rng.choice(FACTS.get(group, FACTS["generic"]))
    d = rng.choice([2, 3, 5, 7, 10])
    return template.format(h=rng.choice([2, 12, 24, 48, 72]), clock=rng.choice([2, 3, 4, 5, 6]),
                           open=rng.choice([8, 9, 10]), x=rng.choice([5, 10, 15, 25, 30, 49, 50, 75, 100]),
                           d=d, d2=d + rng.choice([2, 3, 5]), dd=rng.choice([14, 30, 60, 90]),
                           p=rng.choice([5, 10, 15, 20, 25]), n=rng.choice([3, 5, 6, 8, 10]),
                           m=rng.choice([5, 10, 15, 30]))


def _insert_sentence(answer: str, sentence: str, rng: random.Random) -> str:
    paras = answer.split("\n\n")
    where = rng.random()
    if where < 0.45 or len(paras) == 1:
        return answer.rstrip() + ("\n\n" if rng.random() < 0.5 else " ") + sentence
    if where < 0.8:
        paras[0] = paras[0].rstrip() + " " + sentence
        return "\n\n".join(paras)
    k = rng.randrange(1, len(paras))
    paras.insert(k, sentence)
    return "\n\n".join(paras)


def make_text_contradiction(point: AnchorPoint, rng: random.Random) -> tuple[str, str, str]:
    """(original answer, possibly with a fact sentence added; the conflicting answer; the copy's question)."""
    answer = point.answer
    conflicting = None
    if rng.random() < 0.85:  # a fact the answer already states, where it states one
        strong = _sites(answer, polarity=False)
        if strong:
            conflicting = conflict_text(answer, rng, polarity=False)
    if conflicting is None or conflicting == answer:
        for _ in range(10):
            fact = _fact_sentence(point, rng)
            turned = conflict_text(fact, rng, polarity=True)
            if turned and turned != fact:
                break
        base = _insert_sentence(point.answer, "\x00", rng)
        answer, conflicting = base.replace("\x00", fact), base.replace("\x00", turned)
    question = point.prompt if rng.random() < 0.5 else light_reword_question(point.prompt, rng)
    return answer, conflicting, question


# ------------------------------------------------------------------------------------------------------------------
# TEXT: neighbouring support domains (off_task)

SLOTS: dict[str, list[str]] = {
    "country": ["Spain", "Japan", "Thailand", "the United States", "France", "Turkey", "Canada", "Italy", "Mexico"],
    "city": ["Lisbon", "Frankfurt", "Dubai", "Singapore", "Chicago", "Madrid", "Vienna", "Bangkok", "Toronto"],
    "gb": ["5", "10", "20", "30", "50", "100"], "price": ["$9.99", "$14.99", "$19.99", "€12", "€25", "£15", "$35"],
    "days": ["3", "5", "7", "10", "14", "30"], "hours": ["2", "4", "24", "48", "72"],
    "kg": ["20", "23", "25", "30", "32"], "cabin_kg": ["7", "8", "10"],
    "flight": ["LH 432", "BA 219", "AF 1680", "UA 915", "EK 72", "IB 3120", "KL 1746", "TK 1822"],
    "ref": ["K7QX2M", "ZP4R8T", "L9WQ3C", "HD72XN", "QM5T1B"], "claim": ["CLM-204881", "CL-55310", "77120934"],
    "policy": ["HP-448120", "AU-903312", "TR-117654", "POL-66021"], "device": ["iPhone", "Android phone",
                                                                         "smart TV", "iPad", "laptop",
                                                                         "PlayStation", "Fire TV Stick"],
    "show": ["the new season of the crime drama", "the documentary series", "last night's football match",
             "the cooking show", "the animated film"],
    "area": ["the north of the city", "Riverside", "Oak Park", "the town centre", "Elm Street"],
    "screens": ["2", "4"], "plan": ["Basic", "Standard", "Premium", "Family"], "kwh": ["320", "410", "575", "1,240"],
    "month": ["March", "April", "June", "September", "November"], "n": ["2", "3", "5"],
}

# (near shop intent for the label, question templates, answer template)
OFF_TASK: list[tuple[str, tuple[str, ...], str]] = [
    # telecom
    ("delivery_options", ("how do I turn on roaming before my trip to {country}?",
                          "will my SIM work in {country}? I'm travelling next week"),
     "Roaming can be switched on in the My Account app under Settings > Roaming. Once it is active, calls and data in "
     "{country} are charged per minute and per MB unless you add a travel pass. The {days}-day travel pass costs "
     "{price} and includes {gb} GB of data. Please switch roaming on at least {hours} hours before you leave."),
    ("registration_problems", ("my new SIM card is not working", "inserted the new sim and it says no service"),
     "I'm sorry your new SIM card isn't working yet. Activation can take up to {hours} hours after the card is "
     "inserted. Please restart your phone and check that the SIM sits correctly in the tray. If there is still no "
     "signal, send us the last four digits of the SIM number and we will resend the activation."),
    ("switch_account", ("I want to upgrade my data plan to {gb} GB", "can I get more data on my mobile plan?"),
     "You can upgrade your data plan at any time in the app under Plans. The {gb} GB plan costs {price} a month and "
     "the change applies from your next billing cycle. If you need the extra data today, you can also buy a one-off "
     "data add-on."),
    ("check_invoice", ("why is my phone bill so high this month?", "my mobile bill doubled, what happened"),
     "I understand an unexpected bill is worrying. The most common reasons are roaming charges, calls to premium "
     "numbers or data used beyond your allowance. You can see an itemised breakdown of every call and data session "
     "under Bills in the app. If a charge looks wrong, reply here and we will open a billing review."),
    ("switch_account", ("how can I keep my number when I switch to your network?",
                        "I'd like to port my number from my old provider"),
     "You can keep your number by requesting a porting code from your current provider. Once you have the code, "
     "enter it when you order your SIM with us. The transfer normally completes within one business day, and you "
     "may have no signal for a few hours during the switch."),
    ("delete_account", ("I lost my phone, please block my SIM", "phone stolen, need to block the sim card now"),
     "I'm sorry to hear your phone was lost. I have noted your request and the SIM can be blocked immediately "
     "after we confirm your identity. Please tell us your date of birth and the PIN on your account. A replacement "
     "SIM with the same number can be sent to you within {days} days."),
    ("recover_password", ("what is the PUK code for my SIM?", "my sim is locked and asks for a PUK"),
     "Your PUK code is printed on the plastic card your SIM came in. You can also find it in the app under SIM "
     "settings after logging in. Please be careful: after ten wrong PUK entries the SIM is blocked permanently."),
    ("track_order", ("how much data do I have left this month?", "where do I see my remaining mobile data?"),
     "You can check your remaining data in the app on the home screen, or by dialling *100# from your phone. The "
     "balance is updated every few minutes. We also send a text when you have used 80% of your allowance."),
    ("place_order", ("can I get an eSIM for my {device}?", "do you support esim on {device}"),
     "Yes, we offer eSIMs for most recent devices, including the {device}. You can request one in the app under "
     "SIM > Switch to eSIM, and the QR code arrives by e-mail within a few minutes. Your physical SIM stops working "
     "as soon as the eSIM is activated."),
    ("complaint", ("my home internet is really slow in the evenings", "broadband keeps dropping every night"),
     "I'm sorry your connection has been slow. Evening slowdowns are often caused by Wi-Fi interference, so please "
     "try a cable connection to the router first. You can run a line test from the app, which also tells us if "
     "there is a fault in {area}. If the test shows a fault, an engineer visit is free of charge."),
    ("contact_customer_service", ("how do I set up voicemail on my phone?",
                                  "voicemail isn't working, how to set it up"),
     "To set up voicemail, call 121 from your mobile and follow the spoken instructions to record a greeting. You "
     "can choose a four-digit PIN to listen to messages from another phone. Voicemail is included in every plan at "
     "no extra cost."),
    # airline
    ("delivery_options", ("how many kg of checked baggage can I bring on flight {flight}?",
                          "what is the baggage allowance for my flight {flight}"),
     "For flight {flight}, your fare includes one checked bag of up to {kg} kg. Cabin baggage is limited to one bag "
     "of {cabin_kg} kg plus a small personal item. Extra bags can be added in Manage Booking and are cheaper online "
     "than at the airport."),
    ("place_order", ("when does online check-in open?", "I can't check in online for my flight to {city}"),
     "Online check-in opens {hours} hours before departure and closes 60 minutes before. You can check in on our "
     "website or in the app with your booking reference {ref}. If check-in is not possible online, please go to "
     "the airport desk at least two hours before your flight."),
    ("complaint", ("my suitcase didn't arrive in {city}", "lost luggage after flight {flight}, what now?"),
     "I'm very sorry your suitcase did not arrive in {city}. Please file a baggage report at the lost and found desk "
     "or online with your tag number. Most delayed bags are delivered to your address within {days} days. You can "
     "claim reasonable expenses for essentials, so please keep your receipts."),
    ("change_order", ("can I change the date of my flight?", "need to move my flight {ref} to next week"),
     "You can change the date of booking {ref} in Manage Booking up to three hours before departure. A change fee "
     "may apply depending on your fare, plus any difference in ticket price. Flexible fares can be changed free of "
     "charge."),
    ("place_order", ("can I bring my dog in the cabin?", "travelling with a pet to {city}, what are the rules"),
     "Small dogs and cats up to 8 kg including the carrier can travel in the cabin on most routes. Please add the "
     "pet to your booking at least 48 hours before departure, as places are limited. Larger animals travel in the "
     "hold and need an approved crate."),
    ("check_cancellation_fee", ("how much does it cost to choose a seat?",
                                "is seat selection free on flight {flight}?"),
     "Seat selection starts at {price} per flight and depends on the seat type. Seats with extra legroom cost a "
     "little more. During online check-in a seat is assigned free of charge if you have not chosen one."),
    ("get_refund", ("my flight was delayed 5 hours, can I get compensation?",
                    "flight {flight} was late by hours, do I get money back"),
     "I'm sorry for the long delay on flight {flight}. If you arrived more than three hours late and the delay was "
     "within our control, you may be entitled to compensation. Please submit a claim with booking reference {ref} "
     "on our website. We aim to reply within {days} days."),
    ("check_payment_methods", ("can I take liquids in my hand luggage?", "rules for liquids in carry on bag?"),
     "Liquids in your cabin bag must be in containers of up to 100 ml each. All containers must fit in one "
     "transparent, resealable bag of one litre. Medicines and baby food are allowed in larger amounts if you show "
     "them at security."),
    ("change_order", ("how do I add my baby to my booking?", "need to add an infant to reservation {ref}"),
     "You can add an infant under two years old to booking {ref} in Manage Booking or by calling us. Infants travel "
     "on an adult's lap and pay a reduced fare. Please have the child's passport details ready."),
    ("contact_human_agent", ("I missed my connecting flight in {city}",
                             "missed connection because first flight was late"),
     "I'm sorry you missed your connection in {city}. If both flights are on the same booking, we will rebook you "
     "on the next available flight at no cost. Please go to a transfer desk or rebook in the app. If you have to "
     "stay overnight, we will provide a hotel voucher."),
    # insurance
    ("complaint", ("how do I file a claim after a car accident?", "had a crash yesterday, how to make a claim"),
     "I'm sorry to hear about your accident and I hope everyone is safe. You can start a claim online or in the "
     "app under Claims with your policy number {policy}. Please add photos of the damage and the other driver's "
     "details. A claims handler will contact you within {hours} hours."),
    ("track_refund", ("what is the status of my claim {claim}?", "any update on insurance claim {claim}?"),
     "Your claim {claim} is currently being assessed by our team. We are waiting for the repair estimate from the "
     "garage. Once it arrives, a decision is usually made within {days} business days. You can follow each step in "
     "the app."),
    ("get_invoice", ("what documents do I need for a travel insurance claim?",
                     "which papers to send for my travel claim"),
     "For a travel insurance claim, please send your booking confirmation, the receipts for any costs and a medical "
     "certificate if you were ill. For lost items we also need a police report or a report from the airline. You "
     "can upload everything in one go on the claims page."),
    ("check_refund_policy", ("does my home insurance cover water damage?", "pipe burst in my kitchen, am I covered?"),
     "Sudden water damage, such as a burst pipe, is covered under your home insurance policy {policy}. Damage "
     "caused by a slow leak over time is usually not included. Please turn off the water supply and take photos "
     "before any repairs start."),
    ("edit_account", ("how do I add my wife to my health insurance?", "can I add family members to my health policy"),
     "You can add your spouse or children to policy {policy} in the app under Policy > Members. The new premium "
     "is shown before you confirm. Cover for the new member starts on the first day of the following month."),
    ("cancel_order", ("I want to cancel my insurance policy", "how do I cancel policy {policy}?"),
     "You can cancel policy {policy} at any time with {days} days' notice. If you cancel within the first 14 days, "
     "you receive a full refund of the premium. After that, we refund the unused part of the premium minus a small "
     "administration fee."),
    ("check_refund_policy", ("will a claim affect my no-claims bonus?", "do I lose my no claims discount if I claim"),
     "A claim where you were at fault usually reduces your no-claims bonus at renewal. Claims for windscreen "
     "repairs or theft do not affect it. If the other driver was at fault and we recover our costs, your bonus stays "
     "the same."),
    ("get_refund", ("my windscreen is cracked, is the repair covered?", "stone chip in windscreen, do you pay for it"),
     "Windscreen repairs are covered by your comprehensive policy with no excess. Our partner can repair small "
     "chips at your home or at work, usually within {days} days. A full replacement has an excess of {price}."),
    ("place_order", ("how do I renew my car insurance?", "my policy {policy} expires next month"),
     "We will send your renewal offer for policy {policy} about three weeks before it expires. If you are happy "
     "with it, you do not need to do anything and the policy renews automatically. You can also compare options or "
     "change your cover in the app before the renewal date."),
    ("complaint", ("I dropped my phone in water, can I claim on my gadget insurance?",
                   "how to claim for a broken phone screen"),
     "Accidental damage to your phone is covered under your gadget insurance. Please submit a claim with a short "
     "description of what happened and a photo of the device. An excess of {price} applies per claim, and repairs "
     "usually take {days} working days."),
    # utilities
    ("check_invoice", ("how do I submit a meter reading?", "where can I send my electricity meter reading"),
     "You can submit your meter reading in the app or on our website under Meter Readings. Please enter all the "
     "numbers shown on the display from left to right, ignoring any red digits. Readings sent before the "
     "{days}th of the month are used for your next bill."),
    ("check_invoice", ("my electricity bill is estimated and far too high", "why is my energy bill an estimate?"),
     "Your bill was estimated because we did not receive a meter reading for {month}. If you send us a current "
     "reading today, we will recalculate the bill based on your actual use. Your estimated use was {kwh} kWh, "
     "which is why the amount looks high."),
    ("contact_customer_service", ("there's a power outage in {area}",
                                  "no electricity in our street since this morning"),
     "I'm sorry you are without power. We are aware of an outage in {area} and our engineers are working on it. "
     "The current estimate for restoring supply is within {hours} hours. You can follow updates on our outage map."),
    ("change_shipping_address", ("I'm moving house, how do I transfer my gas and electricity?",
                                 "moving next month, what happens to my energy contract"),
     "Please tell us your moving date at least two weeks in advance. On the day you move, take meter readings at "
     "both properties so you only pay for what you used. Your tariff can move with you to the new address."),
    ("complaint", ("there's water leaking near my water meter", "leak outside the house near the meter"),
     "Thank you for reporting the leak. If the leak is on the street side of the meter, it is our responsibility "
     "and we will send a team within {hours} hours. If it is on your side, a plumber will need to repair it. Please "
     "do not try to open the meter cover yourself."),
    ("check_payment_methods", ("can I change my direct debit date?", "I want to pay my water bill in instalments"),
     "Yes, you can change your direct debit date in your online account under Payments. You can also spread your "
     "bill over monthly instalments at no extra cost. The new schedule starts with your next bill."),
    ("set_up_shipping_address", ("when will my smart meter be installed?", "how do I book a smart meter installation"),
     "You can book a smart meter installation in the app and choose a time slot that suits you. The installation "
     "takes about two hours and the power is switched off for a short time. Someone over 18 needs to be at home."),
    ("switch_account", ("can I switch to a cheaper energy tariff?", "is there a better tariff for me?"),
     "You can compare our tariffs based on your actual use in your online account. Switching to another of our "
     "tariffs is free and takes effect within {days} days. Fixed tariffs may have an exit fee if you leave early."),
    # streaming
    ("payment_issue", ("my streaming subscription was charged twice this month",
                       "I got billed twice for my {plan} plan"),
     "I'm sorry you were charged twice for your {plan} plan. I can see the duplicate payment of {price} on your "
     "account. The extra charge will be refunded to your card within {days} business days. You don't need to do "
     "anything else."),
    ("check_payment_methods", ("how many screens can I watch on at once?", "can my family stream at the same time?"),
     "The number of screens depends on your plan: the {plan} plan allows {screens} screens at the same time. If "
     "you see the message 'Too many people are using your account', stop playback on another device. You can "
     "upgrade your plan at any time in Account settings."),
    ("complaint", ("videos keep buffering on my {device}", "stream keeps freezing on {device}"),
     "I'm sorry playback keeps stopping on your {device}. Please restart the device and your router, then try "
     "again. For HD streaming we recommend a connection of at least 5 Mbps. If it continues, try lowering the "
     "video quality in the app settings."),
    ("place_order", ("can I download episodes to watch offline?", "how to download {show} for a flight"),
     "Yes, you can download episodes in the mobile app by tapping the download icon next to each episode. "
     "Downloads are available on up to {n} devices on your plan. Some titles expire {days} days after you download "
     "them."),
    ("cancel_order", ("how do I cancel my streaming subscription?", "want to stop my {plan} membership"),
     "You can cancel your subscription in Account > Membership > Cancel. You keep access until the end of your "
     "current billing period, and no further payments are taken. Your profiles and watch history are kept for "
     "ten months in case you return."),
    ("switch_account", ("how do I change to the {plan} plan?", "upgrade to 4K streaming"),
     "You can change your plan in Account > Plan details. The {plan} plan costs {price} a month and the new price "
     "applies from your next billing date. An upgrade gives you the extra features immediately."),
    ("edit_account", ("can I share my account with my brother who lives elsewhere?",
                      "account sharing outside household"),
     "Your membership is meant for people who live in one household. You can add an extra member outside your "
     "household for {price} a month in Account settings. They get their own profile and password."),
    ("complaint", ("subtitles are out of sync on {show}", "no subtitles available for {show}"),
     "Thank you for letting us know about the subtitles on {show}. I have reported the problem to our content team. "
     "In the meantime, switching the subtitle language off and on again often fixes the timing."),
    ("recover_password", ("how do I set a PIN for my kids' profile?", "parental controls on my account?"),
     "You can set a profile PIN in Account > Profiles and Parental Controls. Choose a four-digit PIN and the maturity "
     "rating for each profile. Anyone who opens a locked profile will then be asked for the PIN."),
    ("newsletter_subscription", ("how do I stop emails about new releases?",
                                 "too many notifications from your streaming app"),
     "You can turn off e-mails about new releases in Account > Communication settings. Push notifications are "
     "managed in the app settings on each device. Service e-mails about billing will still be sent."),
    ("track_order", ("when is the next episode of {show} coming out?", "release date for {show}?"),
     "New episodes of {show} are released every Friday at 9 am. You can tap 'Remind me' on the title page to get a "
     "notification when they are available. Release dates can vary by country."),
]


def _fill(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], template)


def make_off_task_text(rng: random.Random, labels: list[str]) -> tuple[str, str, str | None]:
    near, questions, answer = rng.choice(OFF_TASK)
    values = {k: rng.choice(v) for k, v in sorted(SLOTS.items())}
    q = _fill(rng.choice(questions), values)
    style = rng.random()
    if style < 0.3:
        q = q.lower()
    elif style < 0.75:
        q = q[0].upper() + q[1:]
    a = _fill(answer, values)
    label = None
    if labels:
        label = near if near in labels else rng.choice(labels)
    return q, a, label


# ------------------------------------------------------------------------------------------------------------------
# TEXT: an answer in another language (language_mismatch)

LANG: dict[str, dict[str, list[str]]] = {
    "de": {
        "open": ["Vielen Dank für Ihre Nachricht.", "Gerne helfe ich Ihnen weiter.",
                 "Es tut mir leid, dass Sie Schwierigkeiten haben."],
        "order": ["Sie können Ihre Bestellung jederzeit im Bereich {{Order History}} Ihres Kontos einsehen und "
                  "bearbeiten.", "Für alle Fragen zu Ihrer Bestellung melden Sie sich bitte an und wählen Sie die "
                  "betreffende Bestellung aus."],
        "refund": ["Ihre Rückerstattung wird nach Eingang der Ware geprüft und auf Ihr ursprüngliches "
                   "Zahlungsmittel überwiesen.",
                   "Den Stand Ihrer Erstattung sehen Sie jederzeit in Ihrem Kundenkonto."],
        "account": ["Ihre Kontodaten können Sie in den Einstellungen Ihres Profils auf {{Website Name}} ändern.",
                    "Ein neues Konto lässt sich in wenigen Minuten über die Schaltfläche „Registrieren“ "
                    "anlegen."],
        "shipping": ["Die Lieferadresse können Sie unter „Mein Konto“ hinzufügen oder ändern.",
                     "Die Lieferzeit hängt von der gewählten Versandart und Ihrem Wohnort ab."],
        "invoice": ["Ihre Rechnungen stehen im Bereich {{Invoices}} Ihres Kontos zum Herunterladen bereit.",
                    "Eine Kopie der Rechnung senden wir Ihnen auch gerne per E-Mail zu."],
        "payment": ["Wir akzeptieren Kreditkarte, PayPal und Überweisung.",
                    "Falls eine Zahlung fehlgeschlagen ist, prüfen Sie bitte zuerst die Angaben Ihrer Karte."],
        "contact": ["Unser Kundenservice ist telefonisch unter {{Customer Support Phone Number}} und per Live-Chat "
                    "erreichbar.", "Ich verbinde Sie gerne mit einem unserer Mitarbeiter."],
        "feedback": ["Ihr Feedback ist uns sehr wichtig und wird direkt an das zuständige Team weitergeleitet.",
                     "Eine Bewertung können Sie auf der Produktseite unter „Bewertung schreiben“ abgeben."],
        "newsletter": ["Sie können den Newsletter jederzeit über den Link am Ende jeder E-Mail abbestellen.",
                       "Zur Anmeldung geben Sie einfach Ihre E-Mail-Adresse auf unserer Startseite ein."],
        "generic": ["Bitte schildern Sie uns Ihr Anliegen etwas genauer, damit wir Ihnen helfen können."],
        "step": ["Melden Sie sich dazu bitte zuerst auf {{Website Name}} an.",
                 "Folgen Sie anschließend den Anweisungen auf dem Bildschirm.",
                 "Speichern Sie die Änderungen, bevor Sie die Seite verlassen."],
        "close": ["Bei weiteren Fragen stehe ich Ihnen gerne zur Verfügung.",
                  "Wir wünschen Ihnen einen schönen Tag!",
                  "Zögern Sie nicht, uns erneut zu kontaktieren."],
    },
    "es": {
        "open": ["Gracias por ponerse en contacto con nosotros.", "Con mucho gusto le ayudo.",
                 "Lamento las molestias que esto le haya causado."],
        "order": ["Puede consultar y modificar su pedido en cualquier momento en la sección {{Order History}} de su "
                  "cuenta.", "Para cualquier gestión de su pedido, inicie sesión y seleccione el pedido "
                  "correspondiente."],
        "refund": ["Su reembolso se procesará una vez que recibamos el producto y se abonará en su método de pago "
                   "original.", "Puede seguir el estado de su reembolso desde su cuenta de cliente."],
        "account": ["Puede actualizar los datos de su cuenta en la configuración de su perfil en {{Website Name}}.",
                    "Crear una cuenta nueva solo le llevará unos minutos con el botón «Registrarse»."],
        "shipping": ["Puede añadir o cambiar su dirección de envío en «Mi cuenta».",
                     "El plazo de entrega depende del método de envío elegido y de su ubicación."],
        "invoice": ["Sus facturas están disponibles para descargar en la sección {{Invoices}} de su cuenta.",
                    "También podemos enviarle una copia de la factura por correo electrónico."],
        "payment": ["Aceptamos tarjeta de crédito, PayPal y transferencia bancaria.",
                    "Si el pago ha fallado, le recomendamos comprobar primero los datos de su tarjeta."],
        "contact": ["Nuestro servicio de atención al cliente está disponible en el {{Customer Support Phone Number}} "
                    "y por chat en vivo.", "Enseguida le pongo en contacto con uno de nuestros agentes."],
        "feedback": ["Su opinión es muy importante para nosotros y la trasladaremos al equipo responsable.",
                     "Puede dejar una reseña en la página del producto, en el apartado «Escribir una opinión»."],
        "newsletter": ["Puede darse de baja del boletín en cualquier momento con el enlace al final de cada correo.",
                       "Para suscribirse, introduzca su correo electrónico en nuestra página de inicio."],
        "generic": ["Por favor, cuéntenos un poco más sobre su consulta para poder ayudarle."],
        "step": ["Primero, inicie sesión en {{Website Name}}.", "A continuación, siga las instrucciones en pantalla.",
                 "No olvide guardar los cambios antes de salir."],
        "close": ["Si tiene cualquier otra pregunta, estaré encantado de ayudarle.", "¡Que tenga un buen día!",
                  "No dude en escribirnos de nuevo."],
    },
    "fr": {
        "open": ["Merci pour votre message.", "Je serais ravi de vous aider.",
                 "Je suis désolé pour la gêne occasionnée."],
        "order": ["Vous pouvez consulter et modifier votre commande à tout moment dans la rubrique {{Order History}} "
                  "de votre compte.", "Pour toute question sur votre commande, connectez-vous et sélectionnez la "
                  "commande concernée."],
        "refund": ["Votre remboursement sera effectué sur votre moyen de paiement d'origine dès réception de "
                   "l'article.", "Vous pouvez suivre l'état de votre remboursement depuis votre espace client."],
        "account": ["Vous pouvez modifier les informations de votre compte dans les paramètres de votre profil sur "
                    "{{Website Name}}.", "La création d'un compte ne prend que quelques minutes via le bouton "
                    "« S'inscrire »."],
        "shipping": ["Vous pouvez ajouter ou modifier votre adresse de livraison dans « Mon compte ».",
                     "Le délai de livraison dépend du mode d'expédition choisi et de votre adresse."],
        "invoice": ["Vos factures sont disponibles au téléchargement dans la rubrique {{Invoices}} de votre compte.",
                    "Nous pouvons également vous envoyer une copie de la facture par e-mail."],
        "payment": ["Nous acceptons la carte bancaire, PayPal et le virement.",
                    "Si le paiement a échoué, veuillez d'abord vérifier les informations de votre carte."],
        "contact": ["Notre service client est joignable au {{Customer Support Phone Number}} et par chat en direct.",
                    "Je vous mets en relation avec un conseiller dans un instant."],
        "feedback": ["Votre avis compte beaucoup pour nous et sera transmis à l'équipe concernée.",
                     "Vous pouvez laisser un avis sur la page du produit, dans la section « Donner mon avis »."],
        "newsletter": ["Vous pouvez vous désabonner de la newsletter à tout moment grâce au lien en bas de chaque "
                       "e-mail.", "Pour vous abonner, saisissez simplement votre adresse e-mail sur notre page "
                       "d'accueil."],
        "generic": ["Pourriez-vous nous en dire un peu plus afin que nous puissions vous aider ?"],
        "step": ["Connectez-vous d'abord à {{Website Name}}.", "Suivez ensuite les instructions à l'écran.",
                 "N'oubliez pas d'enregistrer vos modifications."],
        "close": ["Je reste à votre disposition pour toute autre question.",
                  "Nous vous souhaitons une bonne journée !",
                  "N'hésitez pas à nous recontacter."],
    },
    "it": {
        "open": ["Grazie per averci contattato.", "Sono felice di aiutarla.", "Mi dispiace per l'inconveniente."],
        "order": ["Può visualizzare e modificare il suo ordine in qualsiasi momento nella sezione {{Order History}} "
                  "del suo account.", "Per qualsiasi richiesta sull'ordine, acceda al suo account e selezioni "
                  "l'ordine in questione."],
        "refund": ["Il rimborso verrà accreditato sul metodo di pagamento originale dopo la ricezione del prodotto.",
                   "Può seguire lo stato del rimborso direttamente dal suo account."],
        "account": ["Può aggiornare i dati del suo account nelle impostazioni del profilo su {{Website Name}}.",
                    "Creare un nuovo account richiede solo pochi minuti tramite il pulsante «Registrati»."],
        "shipping": ["Può aggiungere o modificare l'indirizzo di spedizione nella sezione «Il mio account».",
                     "I tempi di consegna dipendono dal metodo di spedizione scelto e dalla sua zona."],
        "invoice": ["Le sue fatture sono disponibili per il download nella sezione {{Invoices}} del suo account.",
                    "Possiamo anche inviarle una copia della fattura via e-mail."],
        "payment": ["Accettiamo carta di credito, PayPal e bonifico bancario.",
                    "Se il pagamento non è andato a buon fine, controlli prima i dati della carta."],
        "contact": ["Il nostro servizio clienti è raggiungibile al {{Customer Support Phone Number}} e tramite chat.",
                    "La metto subito in contatto con uno dei nostri operatori."],
        "feedback": ["Il suo feedback è molto importante per noi e verrà inoltrato al team competente.",
                     "Può lasciare una recensione nella pagina del prodotto, alla voce «Scrivi una recensione»."],
        "newsletter": ["Può annullare l'iscrizione alla newsletter in qualsiasi momento con il link in fondo a ogni "
                       "e-mail.", "Per iscriversi basta inserire il suo indirizzo e-mail nella nostra home page."],
        "generic": ["Potrebbe darci qualche dettaglio in più sulla sua richiesta?"],
        "step": ["Per prima cosa, acceda a {{Website Name}}.", "Poi segua le istruzioni sullo schermo.",
                 "Si ricordi di salvare le modifiche prima di uscire."],
        "close": ["Resto a disposizione per qualsiasi altra domanda.", "Le auguriamo una buona giornata!",
                  "Non esiti a contattarci di nuovo."],
    },
    "pt": {
        "open": ["Obrigado por entrar em contato conosco.", "Terei todo o prazer em ajudar.",
                 "Lamentamos o transtorno causado."],
        "order": ["Você pode consultar e alterar o seu pedido a qualquer momento na seção {{Order History}} da sua "
                  "conta.", "Para qualquer questão sobre o pedido, faça login e selecione o pedido em questão."],
        "refund": ["O seu reembolso será creditado no método de pagamento original assim que recebermos o produto.",
                   "Você pode acompanhar o estado do reembolso na sua área de cliente."],
        "account": ["Você pode atualizar os dados da sua conta nas configurações do perfil em {{Website Name}}.",
                    "Criar uma conta nova leva apenas alguns minutos através do botão «Registrar»."],
        "shipping": ["Você pode adicionar ou alterar o endereço de entrega em «Minha conta».",
                     "O prazo de entrega depende do método de envio escolhido e da sua localização."],
        "invoice": ["As suas faturas estão disponíveis para download na seção {{Invoices}} da sua conta.",
                    "Também podemos enviar uma cópia da fatura por e-mail."],
        "payment": ["Aceitamos cartão de crédito, PayPal e transferência bancária.",
                    "Se o pagamento falhou, verifique primeiro os dados do seu cartão."],
        "contact": ["O nosso atendimento ao cliente está disponível pelo {{Customer Support Phone Number}} e pelo "
                    "chat ao vivo.", "Vou transferi-lo para um dos nossos atendentes."],
        "feedback": ["A sua opinião é muito importante para nós e será encaminhada à equipe responsável.",
                     "Pode deixar uma avaliação na página do produto, em «Escrever avaliação»."],
        "newsletter": ["Você pode cancelar a assinatura da newsletter a qualquer momento pelo link no final de cada "
                       "e-mail.", "Para se inscrever, basta informar o seu e-mail na nossa página inicial."],
        "generic": ["Poderia nos dar mais detalhes sobre o seu pedido para que possamos ajudar?"],
        "step": ["Primeiro, faça login em {{Website Name}}.", "Em seguida, siga as instruções na tela.",
                 "Não se esqueça de salvar as alterações."],
        "close": ["Se tiver mais alguma dúvida, estou à disposição.", "Tenha um ótimo dia!",
                  "Não hesite em nos contatar novamente."],
    },
    "nl": {
        "open": ["Bedankt voor uw bericht.", "Ik help u graag verder.", "Het spijt me dat u problemen ondervindt."],
        "order": ["U kunt uw bestelling op elk moment bekijken en wijzigen in het onderdeel {{Order History}} van uw "
                  "account.", "Voor alle vragen over uw bestelling logt u in en selecteert u de betreffende "
                  "bestelling."],
        "refund": ["Uw terugbetaling wordt na ontvangst van het artikel op uw oorspronkelijke betaalmethode "
                   "teruggestort.", "De status van uw terugbetaling kunt u volgen in uw klantaccount."],
        "account": ["U kunt uw accountgegevens wijzigen in de profielinstellingen op {{Website Name}}.",
                    "Een nieuw account maakt u in een paar minuten aan via de knop 'Registreren'."],
        "shipping": ["U kunt uw bezorgadres toevoegen of wijzigen onder 'Mijn account'.",
                     "De levertijd hangt af van de gekozen verzendmethode en uw woonplaats."],
        "invoice": ["Uw facturen staan klaar om te downloaden in het onderdeel {{Invoices}} van uw account.",
                    "We kunnen u ook een kopie van de factuur per e-mail sturen."],
        "payment": ["Wij accepteren creditcard, PayPal en bankoverschrijving.",
                    "Als de betaling is mislukt, controleer dan eerst uw kaartgegevens."],
        "contact": ["Onze klantenservice is bereikbaar via {{Customer Support Phone Number}} en via de livechat.",
                    "Ik verbind u zo door met een van onze medewerkers."],
        "feedback": ["Uw feedback is erg belangrijk voor ons en wordt doorgestuurd naar het juiste team.",
                     "U kunt een beoordeling achterlaten op de productpagina onder 'Review schrijven'."],
        "newsletter": ["U kunt zich op elk moment afmelden voor de nieuwsbrief via de link onderaan elke e-mail.",
                       "Om u aan te melden, vult u uw e-mailadres in op onze homepage."],
        "generic": ["Kunt u ons iets meer vertellen over uw vraag, zodat we u kunnen helpen?"],
        "step": ["Log eerst in op {{Website Name}}.", "Volg daarna de instructies op het scherm.",
                 "Vergeet niet uw wijzigingen op te slaan."],
        "close": ["Heeft u nog andere vragen, dan help ik u graag.", "Nog een fijne dag!",
                  "Neem gerust opnieuw contact met ons op."],
    },
}


def make_foreign_answer(point: AnchorPoint, rng: random.Random) -> str:
    lang = LANG[rng.choice(sorted(LANG))]
    group = "order" if point.label == "check_cancellation_fee" else _group(point)
    topic = lang.get(group, lang["generic"])
    n = rng.choice([1, 1, 2, 2, 3, 3, 4])
    first = rng.choice(topic)
    pool = [("open", rng.choice(lang["open"])), ("step", rng.choice(lang["step"])),
            ("close", rng.choice(lang["close"]))]
    pool += [("topic2", t) for t in topic if t != first][:1]
    rank = {"open": 0, "topic": 1, "topic2": 2, "step": 3, "close": 4}
    chosen = [("topic", first)] + rng.sample(pool, n - 1)
    body = [text for _kind, text in sorted(chosen, key=lambda kt: rank[kt[0]])]
    return (" " if rng.random() < 0.6 else "\n\n").join(body)


# ------------------------------------------------------------------------------------------------------------------
# JSON: receipts

_OCR_SLIPS = {"0": "O", "O": "0", "1": "I", "I": "1", "5": "S", "S": "5", "8": "B", "B": "8"}


def _norm(s: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", s.upper())


def _protected(lines: list[str], fields: dict) -> list[bool]:
    """Which OCR lines hold (part of) a field value; a re-scan never touches them."""
    vals = [_norm(str(v)) for v in fields.values() if str(v).strip()]
    parts = [_norm(p) for v in fields.values() for p in re.split(r"[,\n]\s*", str(v)) if len(_norm(p)) >= 3]
    total = re.sub(r"[^0-9.]", "", str(fields.get("total", "")))
    out = []
    for line in lines:
        n = _norm(line)
        hit = bool(n) and (any(n in v or v in n for v in vals if v) or any(p in n for p in parts)
                           or (len(n) >= 4 and any(n in p for p in parts)))
        if total and total in line.replace(" ", ""):
            hit = True
        if fields.get("date") and _norm(fields["date"]) and _norm(fields["date"]) in n:
            hit = True
        out.append(hit)
    return out


def rescan(text: str, fields: dict, rng: random.Random, strength: int = 3) -> str:
    """The same receipt scanned again: moved line breaks, OCR slips, maybe a dropped line; field lines untouched."""
    for _ in range(10):
        lines = text.split("\n")
        prot = _protected(lines, fields)
        ops = ["merge", "split", "slip", "slip", "drop"]
        todo = rng.sample(ops, k=min(len(ops), rng.randint(2, strength + 1)))
        if "slip" not in todo and "merge" not in todo:
            todo.append(rng.choice(["slip", "merge"]))
        for op in todo:
            free = [i for i in range(len(lines)) if not prot[i] and lines[i].strip()]
            if not free:
                break
            if op == "slip":
                cands = [i for i in free if any(c in _OCR_SLIPS for c in lines[i])]
                for i in rng.sample(cands, min(len(cands), rng.randint(1, 3))):
                    pos = [j for j, c in enumerate(lines[i]) if c in _OCR_SLIPS]
                    j = rng.choice(pos)
                    lines[i] = lines[i][:j] + _OCR_SLIPS[lines[i][j]] + lines[i][j + 1:]
            elif op == "merge":
                pairs = [i for i in free if i + 1 < len(lines) and not prot[i + 1]]
                if pairs:
                    i = rng.choice(pairs)
                    lines[i:i + 2] = [lines[i] + rng.choice([" ", "  ", " "]) + lines[i + 1]]
                    prot[i:i + 2] = [False]
            elif op == "split":
                cands = [i for i in free if " " in lines[i].strip()]
                if cands:
                    i = rng.choice(cands)
                    spaces = [j for j, c in enumerate(lines[i]) if c == " " and 0 < j < len(lines[i]) - 1]
                    j = rng.choice(spaces)
                    lines[i:i + 1] = [lines[i][:j].rstrip(), lines[i][j + 1:].lstrip()]
                    prot[i:i + 1] = [False, False]
            elif op == "drop" and len(free) > 3:
                i = rng.choice(free)
                del lines[i]
                del prot[i]
        out = "\n".join(lines)
        if out != text:
            return out
    return text + "\n"


def _respell(word: str, rng: random.Random) -> str:
    letters = [i for i, c in enumerate(word) if c.isalpha()]
    op = rng.randrange(4)
    i = rng.choice(letters[1:-1] or letters)
    if op == 0 and len(letters) >= 4:
        return word[:i] + word[i + 1:]
    if op == 1:
        return word[:i] + word[i] + word[i:]
    if op == 2 and i + 1 < len(word) and word[i + 1].isalpha() and word[i + 1] != word[i]:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    vowels = "AEIOU" if word[i].isupper() else "aeiou"
    if word[i] in vowels:
        return word[:i] + rng.choice([v for v in vowels if v != word[i]]) + word[i + 1:]
    return word[:i] + word[i] + word[i:]


def _change_total(total: str, rng: random.Random) -> str | None:
    m = re.search(r"\d[\d,]*(?:\.\d+)?", total)
    if not m:
        return None
    num = m.group(0)
    value = float(num.replace(",", ""))
    for _ in range(10):
        how = rng.randrange(4)
        if how == 0:
            new = value + rng.choice([1, 2, 5, 10, 0.5, 0.1, -0.1, -1, 20])
        elif how == 1:
            new = value * rng.choice([2, 3, 0.5, 10, 1.1])
        elif how == 2:  # two digits swapped, a typical keying slip
            digits = num.replace(",", "")
            idx = [i for i in range(len(digits) - 1) if digits[i].isdigit() and digits[i + 1].isdigit()
                   and digits[i] != digits[i + 1]]
            if not idx:
                continue
            i = rng.choice(idx)
            new = float(digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:])
        else:
            new = round(value) + rng.choice([0.9, 0.5, 0.1]) if value >= 1 else value + 3
        if new > 0 and abs(new - value) > 0.004:
            dec = len(num.split(".")[1]) if "." in num else 0
            text = f"{new:,.{dec}f}" if "," in num else f"{new:.{dec}f}"
            if text != num:
                return total[:m.start()] + text + total[m.end():]
    return None


_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


def _change_date(date: str, rng: random.Random) -> str | None:
    groups = list(re.finditer(r"\d+", date))
    month_word = re.search(r"(?i)\b(" + "|".join(_MONTHS) + r")[A-Z]*\b", date)
    if not groups:
        return None
    if len(groups) == 1 and len(groups[0].group(0)) == 8:  # 20180315 or 15032018
        g = groups[0].group(0)
        new = g[:-2] + f"{(int(g[-2:]) % 28) + 1:02d}" if g.startswith("20") else f"{(int(g[:2]) % 28) + 1:02d}" + g[2:]
        return date.replace(g, new) if new != g else None
    choices = ["day", "day", "month", "year"]
    what = rng.choice(choices)
    if what == "month" and month_word and rng.random() < 0.7:
        old = month_word.group(1).upper()
        new = rng.choice([m for m in _MONTHS if m != old])
        rep = new if month_word.group(1).isupper() else new.title()
        return date[:month_word.start(1)] + rep + date[month_word.end(1):]
    if groups[0].group(0).startswith("20") and len(groups[0].group(0)) == 4:  # YYYY-MM-DD
        order = {"year": 0, "month": 1, "day": 2}
    else:
        order = {"day": 0, "month": 1, "year": 2} if not month_word else {"day": 0, "year": 1, "month": 9}
    idx = order.get(what, 0)
    if idx >= len(groups):
        idx = 0
        what = "day"
    g = groups[idx]
    old = int(g.group(0))
    width = len(g.group(0))
    if what == "day":
        new = rng.choice([d for d in range(1, 29) if d != old and abs(d - old) >= 2])
    elif what == "month":
        new = rng.choice([m for m in range(1, 13) if m != old])
    else:
        new = old + rng.choice([1, -1]) if old > 0 else 1
    text = f"{new:0{width}d}" if width > 1 else str(new)
    return date[:g.start()] + text + date[g.end():]


def _change_spelling(value: str, rng: random.Random, address: bool) -> str | None:
    if address and rng.random() < 0.5:
        nums = list(re.finditer(r"\b\d{5}\b", value)) or list(re.finditer(r"\d+", value))
        if nums:
            m = rng.choice(nums)
            old = m.group(0)
            digits = list(old)
            i = rng.randrange(len(digits))
            digits[i] = rng.choice([d for d in "0123456789" if d != digits[i]])
            return value[:m.start()] + "".join(digits) + value[m.end():]
    words = [m for m in re.finditer(r"[A-Za-z]{4,}", value)
             if m.group(0).upper() not in ("SDN", "BHD", "JALAN", "TAMAN")]
    if not words:
        words = list(re.finditer(r"[A-Za-z]{3,}", value))
    if not words:
        return None
    m = rng.choice(words)
    new = _respell(m.group(0), rng)
    return value[:m.start()] + new + value[m.end():] if new != m.group(0) else None


def change_one_field(fields: dict, rng: random.Random) -> tuple[dict, str] | None:
    keys = [k for k in ("total", "date", "company", "address") if str(fields.get(k, "")).strip()]
    rng.shuffle(keys)
    for key in keys:
        old = str(fields[key])
        if key == "total":
            new = _change_total(old, rng)
        elif key == "date":
            new = _change_date(old, rng)
        else:
            new = _change_spelling(old, rng, address=(key == "address"))
        if new and new != old:
            out = dict(fields)
            out[key] = new
            return out, key
    return None


# ---------------------------------------------------------------- JSON: neighbouring documents (off_task)

_MY_STREETS = ["JALAN AMPANG", "JALAN TUN RAZAK", "JALAN SS 2/24", "JALAN PUCHONG", "JALAN KLANG LAMA",
               "JALAN BUKIT BINTANG", "JALAN MERDEKA", "JALAN PERMAS 10", "JALAN KENARI 3", "JALAN IPOH",
               "JALAN SULTAN ISMAIL", "LORONG MAAROF", "JALAN USJ 10/1", "JALAN TEBRAU", "PERSIARAN SURIA"]
_MY_AREAS = [("TAMAN MELAWATI", "53100", "KUALA LUMPUR", "WILAYAH PERSEKUTUAN"),
             ("BANDAR SUNWAY", "47500", "SUBANG JAYA", "SELANGOR"), ("TAMAN DAYA", "81100", "JOHOR BAHRU", "JOHOR"),
             ("SEKSYEN 13", "40100", "SHAH ALAM", "SELANGOR"), ("BANDAR BARU BANGI", "43650", "BANGI", "SELANGOR"),
             ("TAMAN CONNAUGHT", "56000", "CHERAS", "KUALA LUMPUR"), ("GREENTOWN", "30450", "IPOH", "PERAK"),
             ("BAYAN LEPAS", "11900", "PULAU PINANG", "PULAU PINANG"), ("TAMAN MOLEK", "81100", "JOHOR BAHRU",
                                                                         "JOHOR"),
             ("DAMANSARA UTAMA", "47400", "PETALING JAYA", "SELANGOR"), ("TAMAN SRI GOMBAK", "68100",
                                                                         "BATU CAVES", "SELANGOR")]
_BIZ_WORDS = ["SRI", "MAJU", "JAYA", "GOLDEN", "HARMONI", "EVERGREEN", "CAHAYA", "MUTIARA", "SINAR", "BINTANG",
              "PRIMA", "TEGUH", "KINGSTON", "LUCKY", "ORIENTAL", "PERDANA", "SETIA", "GEMILANG"]
_BIZ_SUFFIX = ["SDN BHD", "SDN. BHD.", "ENTERPRISE", "TRADING", "(M) SDN BHD", "RESOURCES SDN BHD", "HOLDINGS SDN BHD"]


def _address(rng: random.Random) -> list[str]:
    area, pc, city, state = rng.choice(_MY_AREAS)
    first = rng.choice([f"NO. {rng.randint(1, 150)}, {rng.choice(_MY_STREETS)},",
                        f"LOT {rng.randint(100, 9999)}, {rng.choice(_MY_STREETS)},",
                        f"{rng.randint(1, 80)}-{rng.randint(1, 5)}, {rng.choice(_MY_STREETS)},",
                        f"NO {rng.randint(1, 99)}, JALAN {rng.choice(_BIZ_WORDS)} {rng.randint(1, 12)},"])
    return [first, f"{area},", f"{pc} {city}, {state}."]


def _date(rng: random.Random) -> str:
    d, m, y = rng.randint(1, 28), rng.randint(1, 12), rng.choice([2017, 2018, 2019])
    return rng.choice([f"{d:02d}/{m:02d}/{y}", f"{d:02d}-{m:02d}-{y % 100:02d}", f"{d:02d} {_MONTHS[m - 1]} {y}",
                       f"{d:02d}/{m:02d}/{y % 100:02d}", f"{y}-{m:02d}-{d:02d}"])


def _company(rng: random.Random, kind: str) -> str:
    a, b = rng.sample(_BIZ_WORDS, 2)
    return f"{kind} {a} {b}".strip() if kind else f"{a} {b} {rng.choice(_BIZ_SUFFIX)}"


def _kv(label: str, value: str, rng: random.Random, style: int) -> list[str]:
    if style == 0:
        return [f"{label}: {value}"]
    if style == 1:
        return [f"{label} : {value}"]
    return [label, value]  # label and value on separate lines, as box-by-box OCR gives them


def _title_word(word: str) -> str:
    return word.title() if word.strip(".,").isalpha() and len(word.strip(".,")) > 3 else word


def _caser(rng: random.Random):
    """How the document is printed: upper case (most), as written, or titled words; applied to text and gold alike."""
    r = rng.random()
    if r < 0.6:
        return str.upper
    if r < 0.85:
        return lambda s: s
    return lambda s: " ".join(_title_word(w) for w in s.split(" "))


def _menu(rng: random.Random) -> tuple[list[str], dict]:
    name = _company(rng, rng.choice(["RESTORAN", "KEDAI MAKAN", "CAFE", "", "WARUNG"]))
    addr = _address(rng)
    style = rng.randrange(3)
    dishes = [("NASI LEMAK AYAM", 9.9), ("MEE GORENG MAMAK", 7.5), ("ROTI CANAI", 1.8), ("TEH TARIK", 2.2),
              ("NASI GORENG KAMPUNG", 8.9), ("CHAR KUEY TEOW", 9.5), ("AYAM PENYET", 12.9), ("LAKSA PENANG", 8.0),
              ("KOPI O AIS", 2.5), ("SATAY AYAM (10 CUCUK)", 12.0), ("ROJAK BUAH", 6.0), ("MILO DINOSAUR", 5.5),
              ("NASI KANDAR", 10.5), ("CENDOL", 4.5), ("WANTAN MEE", 7.9)]
    items = rng.sample(dishes, rng.randint(5, 10))
    lines = [name] + addr
    if rng.random() < 0.6:
        lines.append(f"TEL: 0{rng.randint(3, 9)}-{rng.randint(2000000, 9999999)}")
    lines += [rng.choice(["MENU", "OUR MENU", "LUNCH MENU", "MENU HARIAN", "SET MENU"])]
    valid = _date(rng) if rng.random() < 0.5 else ""
    if valid:
        lines += _kv(rng.choice(["VALID FROM", "EFFECTIVE", "UPDATED"]), valid, rng, style)
    half = len(items) // 2
    for part, section in enumerate(rng.sample(["MAKANAN", "MINUMAN", "RICE", "NOODLES", "DRINKS", "DESSERT"], 2)):
        lines.append(rng.choice([f"- {section} -", section, f"*** {section} ***"]))
        for dish, price in (items[:half] if part == 0 else items[half:]):
            if style == 2:
                lines += [dish, f"{price:.2f}"]
            else:
                lines.append(f"{dish} {'RM' if rng.random() < 0.5 else ''}{price:.2f}")
    lines += rng.sample(["ALL PRICES INCLUDE 6% SST", "HARGA TERMASUK SST", "NO PORK NO LARD",
                         "OPEN DAILY 7AM - 11PM", "SERVICE CHARGE 10%"], 2)
    return lines, {"company": name, "date": valid, "address": " ".join(addr), "total": ""}


def _quotation(rng: random.Random) -> tuple[list[str], dict]:
    name, addr, date = _company(rng, ""), _address(rng), _date(rng)
    style = rng.randrange(3)
    items = rng.sample([("A4 PAPER 80GSM (BOX)", 98.0), ("TONER CARTRIDGE HP 85A", 245.0), ("OFFICE CHAIR", 320.0),
                        ("LED PANEL LIGHT 600X600", 85.0), ("CCTV CAMERA 2MP", 180.0),
                        ("NETWORK CABLE CAT6 305M", 410.0),
                        ("INSTALLATION CHARGES", 350.0), ("AIRCOND SERVICE 1.5HP", 120.0), ("WHITEBOARD 4X3", 150.0)],
                       rng.randint(2, 5))
    lines = [name] + addr + [rng.choice(["QUOTATION", "SEBUT HARGA / QUOTATION", "QUOTE"])]
    lines += _kv("QUOTATION NO", f"Q{rng.randint(2017, 2019)}-{rng.randint(100, 999)}", rng, style)
    lines += _kv("DATE", date, rng, style)
    lines += _kv("TO", _company(rng, ""), rng, style) + ["ATTN: PURCHASING DEPT"]
    lines += ["NO DESCRIPTION QTY UNIT PRICE AMOUNT"] if style != 2 else ["NO", "DESCRIPTION", "QTY", "AMOUNT"]
    sub = 0.0
    for k, (desc, price) in enumerate(items, 1):
        qty = rng.randint(1, 10)
        sub += qty * price
        if style == 2:
            lines += [str(k), desc, str(qty), f"{qty * price:,.2f}"]
        else:
            lines.append(f"{k} {desc} {qty} {price:,.2f} {qty * price:,.2f}")
    tax = round(sub * 0.06, 2)
    total = f"{sub + tax:,.2f}"
    lines += _kv("SUB TOTAL", f"{sub:,.2f}", rng, style) + _kv("SST 6%", f"{tax:,.2f}", rng, style)
    lines += _kv("GRAND TOTAL (RM)", total, rng, style)
    lines += rng.sample(["THIS QUOTATION IS VALID FOR 30 DAYS", "PAYMENT TERMS: 30 DAYS",
                         "DELIVERY: 2-3 WEEKS UPON CONFIRMATION", "PREPARED BY: SALES DEPT",
                         "THIS IS A COMPUTER GENERATED DOCUMENT"], 3)
    return lines, {"company": name, "date": date, "address": " ".join(addr), "total": total}


def _purchase_order(rng: random.Random) -> tuple[list[str], dict]:
    name, addr, date = _company(rng, ""), _address(rng), _date(rng)
    style = rng.randrange(3)
    lines = [name, f"(CO. REG. NO: {rng.randint(100000, 999999)}-{rng.choice('AHKMPTUVWX')})"] + addr
    lines += [rng.choice(["PURCHASE ORDER", "P.O.", "PESANAN BELIAN / PURCHASE ORDER"])]
    lines += _kv("PO NO", f"PO-{rng.randint(10000, 99999)}", rng, style) + _kv("PO DATE", date, rng, style)
    vendor_addr = _address(rng)
    lines += ["VENDOR:", _company(rng, "")] + vendor_addr[:2] + ["SHIP TO:", "SAME AS ABOVE" if rng.random() < 0.5
                                                                  else "WAREHOUSE 2, " + vendor_addr[-1]]
    total = 0.0
    for desc in rng.sample(["STEEL BRACKET 50MM", "PVC PIPE 1\" X 6M", "CEMENT 50KG", "PAINT WHITE 18L",
                            "SCREW M6 (BOX 100)", "CARTON BOX L", "PALLET WRAP", "SAFETY GLOVES (DOZ)"],
                           rng.randint(2, 5)):
        qty, price = rng.randint(1, 50), rng.choice([3.5, 12.0, 18.9, 25.0, 64.0, 110.0])
        total += qty * price
        lines += [desc, f"{qty} X {price:.2f}", f"{qty * price:,.2f}"] if style == 2 else [
            f"{desc}  {qty}  {price:.2f}  {qty * price:,.2f}"]
    tot = f"{total:,.2f}"
    lines += _kv("TOTAL AMOUNT (RM)", tot, rng, style)
    lines += rng.sample(["PLEASE QUOTE PO NUMBER ON ALL INVOICES", "AUTHORISED SIGNATURE", "APPROVED BY:",
                         "DELIVERY DATE: WITHIN 14 DAYS", "TERMS: 60 DAYS"], 3)
    return lines, {"company": name, "date": date, "address": " ".join(addr), "total": tot}


def _boarding_pass(rng: random.Random) -> tuple[list[str], dict]:
    airline = rng.choice(["AIRASIA BERHAD", "MALAYSIA AIRLINES BERHAD", "FIREFLY SDN BHD", "MALINDO AIRWAYS SDN BHD"])
    code = {"AIRASIA BERHAD": "AK", "MALAYSIA AIRLINES BERHAD": "MH", "FIREFLY SDN BHD": "FY",
            "MALINDO AIRWAYS SDN BHD": "OD"}[airline]
    date = _date(rng)
    style = rng.randrange(3)
    src, dst = rng.sample(["KUL", "PEN", "BKI", "KCH", "JHB", "LGK", "SIN", "BKK"], 2)
    airport = rng.choice([("KLIA2, JALAN KLIA 2/1,", "64000 SEPANG, SELANGOR."),
                          ("KUALA LUMPUR INTERNATIONAL AIRPORT,", "64000 SEPANG, SELANGOR."),
                          ("LAPANGAN TERBANG ANTARABANGSA PULAU PINANG,", "11900 BAYAN LEPAS, PULAU PINANG.")])
    lines = [rng.choice(["BOARDING PASS", "BOARDING PASS / PAS MENAIKI PESAWAT"]), airline]
    lines += _kv("FLIGHT", f"{code} {rng.randint(100, 6999)}", rng, style) + _kv("DATE", date, rng, style)
    lines += _kv("FROM", src, rng, style) + _kv("TO", dst, rng, style)
    lines += _kv("BOARDING TIME", f"{rng.randint(6, 22):02d}:{rng.choice(['05', '20', '35', '50'])}", rng, style)
    lines += _kv("GATE", f"{rng.choice('ABCKLP')}{rng.randint(1, 20)}", rng, style)
    lines += _kv("SEAT", f"{rng.randint(1, 35)}{rng.choice('ABCDEF')}", rng, style)
    lines += _kv("SEQ", f"{rng.randint(1, 180):03d}", rng, style) + ["PASSENGER 1 OF 1"]
    lines += rng.sample(["GATE CLOSES 20 MINUTES BEFORE DEPARTURE", "CABIN BAGGAGE 7KG", "ECONOMY",
                         "PLEASE HAVE YOUR ID READY", "CHECK-IN COUNTER " + str(rng.randint(1, 40))], 3)
    lines += list(airport)
    return lines, {"company": airline, "date": date, "address": " ".join(airport), "total": ""}


def _parking(rng: random.Random) -> tuple[list[str], dict]:
    op = rng.choice(["SECURE PARKING (M) SDN BHD", "WILSON PARKING MALAYSIA SDN BHD", "CAR PARK SERVICES SDN BHD",
                     _company(rng, "") + " PARKING"])
    addr, date = _address(rng), _date(rng)
    style = rng.randrange(3)
    hrs = rng.randint(1, 9)
    fee = f"{rng.choice([2.0, 3.0, 4.0]) + (hrs - 1) * rng.choice([1.0, 2.0, 3.0]):.2f}"
    lines = [op] + addr + [rng.choice(["PARKING RECEIPT", "PARKING TICKET", "TIKET LETAK KERETA"])]
    lines += _kv("TICKET NO", str(rng.randint(10 ** 7, 10 ** 8)), rng, style)
    lines += _kv("ENTRY", f"{date} {rng.randint(7, 12):02d}:{rng.randint(0, 59):02d}", rng, style)
    lines += _kv("EXIT", f"{date} {rng.randint(13, 21):02d}:{rng.randint(0, 59):02d}", rng, style)
    lines += _kv("DURATION", f"{hrs}H {rng.randint(0, 59)}M", rng, style)
    lines += _kv(rng.choice(["PARKING FEE", "AMOUNT PAID", "FEE"]), f"RM {fee}", rng, style)
    lines += rng.sample(["LOST TICKET RM 50.00", "THANK YOU. DRIVE SAFELY", "GRACE PERIOD 15 MINS",
                         f"LOT NO: B{rng.randint(1, 3)}-{rng.randint(1, 300):03d}", "PAID BY TOUCH N GO"], 2)
    return lines, {"company": op, "date": date, "address": " ".join(addr), "total": f"RM {fee}" if rng.random() < 0.5
                   else fee}


def _appointment(rng: random.Random) -> tuple[list[str], dict]:
    clinic = rng.choice(["KLINIK", "POLIKLINIK", "HOSPITAL", "PUSAT PAKAR"]) + " " + " ".join(
        rng.sample(_BIZ_WORDS, 2)) + rng.choice(["", " SDN BHD", " & SURGERY"])
    addr, date = _address(rng), _date(rng)
    style = rng.randrange(3)
    dept = rng.choice(["CARDIOLOGY", "ORTHOPAEDIC", "DENTAL", "OBSTETRICS & GYNAECOLOGY", "ENT", "GENERAL PRACTICE"])
    lines = [clinic] + addr + [f"TEL: 0{rng.randint(3, 9)}-{rng.randint(2000000, 9999999)}"]
    lines += [rng.choice(["APPOINTMENT SLIP", "APPOINTMENT LETTER", "KAD TEMUJANJI / APPOINTMENT CARD"])]
    lines += _kv("REF NO", f"APT{rng.randint(100000, 999999)}", rng, style)
    lines += _kv("APPOINTMENT DATE", date, rng, style)
    lines += _kv("TIME", f"{rng.randint(8, 16):02d}:{rng.choice(['00', '15', '30', '45'])}", rng, style)
    lines += _kv("CLINIC", dept, rng, style) + _kv("DOCTOR", "DR. " + rng.choice(
        ["LIM K. H.", "NORAZLINA", "S. RAJAN", "CHONG W. L.", "AHMAD FAUZI"]), rng, style)
    fee = f"{rng.choice([35, 60, 80, 120, 150]):.2f}"
    with_fee = rng.random() < 0.4
    if with_fee:
        lines += _kv("CONSULTATION FEE (EST.)", f"RM{fee}", rng, style)
    lines += rng.sample(["PLEASE ARRIVE 15 MINUTES BEFORE YOUR APPOINTMENT",
                         "PLEASE BRING THIS SLIP AND YOUR MYKAD", "FASTING IS REQUIRED FROM 10PM THE NIGHT BEFORE",
                         "TO RESCHEDULE PLEASE CALL 2 DAYS IN ADVANCE", "BRING ALL CURRENT MEDICATIONS"], 3)
    return lines, {"company": clinic, "date": date, "address": " ".join(addr), "total": fee if with_fee else ""}


_DOC_MAKERS = [_menu, _quotation, _purchase_order, _boarding_pass, _parking, _appointment]


def make_off_task_json(rng: random.Random) -> tuple[str, str]:
    maker = rng.choice(_DOC_MAKERS)
    lines, fields = maker(rng)
    case = _caser(rng)
    lines = [case(ln) for ln in lines]
    fields = {key: case(value) for key, value in fields.items()}
    if rng.random() < 0.3:  # a few footer lines moved up, as box order in OCR sometimes has them
        k = rng.randint(1, 2)
        tail, lines = lines[-k:], lines[:-k]
        at = rng.randint(len(lines) // 3, len(lines))
        lines[at:at] = tail
    text = "\n".join(lines)
    return text, json.dumps(fields, ensure_ascii=False)


# ---------------------------------------------------------------- JSON: a private person's data (personal_data)

_SURNAMES_CN = ["TAN", "LIM", "LEE", "WONG", "NG", "CHONG", "ONG", "GOH", "CHAN", "TEOH", "YAP", "LOW"]
_GIVEN_CN = ["WEI MING", "SIEW LING", "KAH HOE", "MEI YEE", "JIA HUI", "CHEE KEONG", "XIN YI", "BOON HOCK",
             "LAI PENG", "ZHI HAO"]
_MALAY_M = ["AHMAD FAIZAL", "MOHD HAFIZ", "MUHAMMAD AMIRUL", "KHAIRUL ANUAR", "AZMAN", "SYAZWAN"]
_MALAY_F = ["NUR AISYAH", "SITI NORHAYATI", "NURUL IZZATI", "FARAH HANIM", "AINUL MARDHIAH"]
_MALAY_FATHER = ["ROSLI", "ISMAIL", "ABDULLAH", "HASHIM", "OTHMAN", "YUSOF"]
_INDIAN_M = ["RAJESH", "SURESH", "KUMARAN", "VINOD", "ARVIND"]
_INDIAN_F = ["KAVITHA", "PRIYA", "SHANTHI", "DEVI", "MALAR"]
_INDIAN_FATHER = ["MUNIANDY", "SUBRAMANIAM", "RAMASAMY", "KRISHNAN", "GOVINDASAMY"]


def _person(rng: random.Random) -> tuple[str, str, str]:
    """(printed name, first name for e-mail, last name for e-mail)."""
    kind = rng.randrange(5)
    if kind <= 1:
        s, g = rng.choice(_SURNAMES_CN), rng.choice(_GIVEN_CN)
        return f"{s} {g}", g.replace(" ", "").lower(), s.lower()
    if kind == 2:
        g, f = rng.choice(_MALAY_M), rng.choice(_MALAY_FATHER)
        return f"{g} BIN {f}", g.split()[-1].lower(), f.lower()
    if kind == 3:
        g, f = rng.choice(_MALAY_F), rng.choice(_MALAY_FATHER)
        return f"{g} BINTI {f}", g.split()[-1].lower(), f.lower()
    if rng.random() < 0.5:
        g, f = rng.choice(_INDIAN_M), rng.choice(_INDIAN_FATHER)
        return f"{g} A/L {f}", g.lower(), f.lower()
    g, f = rng.choice(_INDIAN_F), rng.choice(_INDIAN_FATHER)
    return f"{g} A/P {f}", g.lower(), f.lower()


def _mobile(rng: random.Random) -> str:
    p = rng.choice(["012", "013", "014", "016", "017", "019", "011"])
    body = f"{rng.randint(1000000, 9999999)}"
    return rng.choice([f"{p}-{body}", f"{p}-{body[:3]} {body[3:]}", f"+6{p}-{body}", f"{p}{body}",
                       f"6{p} {body[:3]} {body[3:]}"])


def _home(rng: random.Random) -> str:
    area, pc, city, state = rng.choice(_MY_AREAS)
    return rng.choice([f"NO. {rng.randint(1, 90)}, JALAN {rng.choice(_BIZ_WORDS)} {rng.randint(1, 20)}, {area}, "
                       f"{pc} {city}", f"{rng.randint(1, 30)}-{rng.randint(1, 20)}-{rng.randint(1, 12)}, "
                       f"PANGSAPURI {rng.choice(_BIZ_WORDS)}, {pc} {city}",
                       f"{rng.randint(1, 150)} {rng.choice(_MY_STREETS)}, {area}, {pc} {city}, {state}"])


def personal_lines(rng: random.Random) -> list[str]:
    name, first, last = _person(rng)
    mobile = _mobile(rng)
    card = rng.choice([f"{rng.randint(1000, 9999)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                       f"M{rng.randint(10 ** 7, 10 ** 8)}", f"{rng.randint(10 ** 9, 10 ** 10)}"])
    ic = f"{rng.randint(60, 99)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}-{rng.randint(1, 14):02d}-" \
         f"{rng.randint(1000, 9999)}"
    domain = rng.choice(["yahoo.com", "gmail.com", "hotmail.com", "yahoo.com.my"])
    email = rng.choice([f"{first}.{last}@{domain}", f"{first}{last}{rng.randint(70, 99)}@{domain}",
                        f"{last}.{first}@{domain}"])
    title = name.title() if rng.random() < 0.25 else name
    formats = [
        [f"CUSTOMER: {title} {mobile}"], [f"Member: {title} / {card}"], [f"Email: {email}"],
        [f"Deliver to: {title}, {mobile}, {_home(rng)}"], [f"CUST NAME : {title}", f"H/P : {mobile}"],
        [f"BILL TO: {title}", _home(rng)], [f"IC NO: {ic}", f"NAME: {title}"], [f"CONTACT: {title} ({mobile})"],
        [f"MEMBER NO: {card} ({title})"], [f"Customer e-mail: {email}"], [f"ATTN: {title} TEL {mobile}"],
        [f"NAMA PELANGGAN: {title}", f"NO TEL: {mobile}"], [f"CUSTOMER {title}", f"{email}", f"{mobile}"],
    ]
    return rng.choice(formats)


def add_personal_data(text: str, fields: dict, rng: random.Random) -> str:
    lines = text.split("\n")
    prot = _protected(lines, fields)
    where = rng.choice(["header", "middle", "end"])
    if where == "header":
        head = [i for i in range(min(10, len(lines))) if prot[i]]
        at = (max(head) + 1) if head else min(4, len(lines))
    elif where == "middle":
        at = rng.randint(len(lines) // 3, max(len(lines) // 3, 2 * len(lines) // 3))
    else:
        at = len(lines) - rng.choice([0, 0, 1, 2])
    at = max(1, min(at, len(lines)))
    lines[at:at] = personal_lines(rng)
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------------------
# the injector


@dataclass
class _Row:
    point: AnchorPoint
    code: str | None = None      # defect code of an injected or modified row
    partner: bool = False        # an original some injected row copies or conflicts with


def inject_fit(points: list[AnchorPoint], fmt: str, rate: float = 0.03, seed: int = 0,
               shared: Path | None = None) -> tuple[list[AnchorPoint], dict[int, str], set[int]]:
    """Plant the four defects of `fmt` in clean `points`; see the module docstring."""
    if fmt not in DEFECTS:
        raise ValueError(f"fmt must be 'text' or 'json', not {fmt!r}")
    rng = random.Random(seed)
    n = len(points)
    k = max(5, round(rate * n))
    if 3 * k > n:
        raise ValueError(f"{n} rows are too few for {k} rows per defect type")
    rows = [_Row(p) for p in points]
    order = list(range(n))
    rng.shuffle(order)
    used: set[int] = set()

    def take(ok) -> list[int]:
        out = []
        for i in order:
            if len(out) == k:
                break
            if i not in used and ok(points[i]):
                out.append(i)
                used.add(i)
        if len(out) < k:
            raise ValueError(f"only {len(out)} rows fit a defect that needs {k}")
        return out

    labels = sorted({p.label for p in points if p.label is not None})
    injected: list[_Row] = []

    if fmt == "text":
        for i in take(lambda p: bool(p.prompt.strip()) and bool(p.answer.strip())):
            p = points[i]
            q = paraphrase_request(p, rng)
            a = p.answer if rng.random() < 0.5 else reword_answer(p.answer, rng, rng.randint(2, 4))
            rows[i].partner = True
            injected.append(_Row(_with(p, prompt=q, answer=a), "near_duplicate"))
        for i in take(lambda p: bool(p.prompt.strip()) and bool(p.answer.strip())):
            p = points[i]
            original_answer, conflicting, q = make_text_contradiction(p, rng)
            if original_answer != p.answer:  # the fact sentence goes into the original too: still a clean row
                rows[i].point = _with(p, answer=original_answer, line=p.line)
            rows[i].partner = True
            injected.append(_Row(_with(p, prompt=q, answer=conflicting), "contradiction"))
        seen: set[str] = set()
        for _ in range(k):
            for _try in range(50):  # off-task rows are not meant to duplicate each other
                q, a, label = make_off_task_text(rng, labels)
                if q.lower() not in seen:
                    break
            seen.add(q.lower())
            injected.append(_Row(_new_point(q, a, label), "off_task"))
        for i in take(lambda p: bool(p.prompt.strip()) and bool(re.search(r"[a-zA-Z]", p.prompt))):
            p = points[i]
            rows[i].point = _with(p, answer=make_foreign_answer(p, rng), line=p.line)
            rows[i].code = "language_mismatch"
    else:
        def fields_of(p: AnchorPoint) -> dict | None:
            try:
                f = json.loads(p.answer)
            except (ValueError, TypeError):
                return None
            return f if isinstance(f, dict) else None

        def rescannable(p: AnchorPoint) -> bool:
            f = fields_of(p)
            if f is None:
                return False
            lines = p.prompt.split("\n")
            return sum(not x for x in _protected(lines, f)) >= 4

        for i in take(rescannable):
            p = points[i]
            rows[i].partner = True
            injected.append(_Row(_with(p, prompt=rescan(p.prompt, fields_of(p), rng)), "near_duplicate"))
        for i in take(lambda p: fields_of(p) is not None and change_one_field(fields_of(p), random.Random(0))
                      is not None):
            p = points[i]
            f = fields_of(p)
            result = None
            for _try in range(5):
                result = change_one_field(f, rng)
                if result:
                    break
            changed, _key = result or change_one_field(f, random.Random(0))
            prompt = p.prompt if rng.random() < 0.6 or not rescannable(p) else rescan(p.prompt, f, rng, strength=2)
            rows[i].partner = True
            injected.append(_Row(_with(p, prompt=prompt, answer=json.dumps(changed, ensure_ascii=False)),
                                 "contradiction"))
        seen_docs: set[str] = set()
        for _ in range(k):
            for _try in range(50):
                text, answer = make_off_task_json(rng)
                if text not in seen_docs:
                    break
            seen_docs.add(text)
            label = rng.choice(labels) if labels else None
            injected.append(_Row(_new_point(text, answer, label), "off_task"))
        for i in take(lambda p: fields_of(p) is not None and p.prompt.count("\n") >= 3):
            p = points[i]
            rows[i].point = _with(p, prompt=add_personal_data(p.prompt, fields_of(p), rng), line=p.line)
            rows[i].code = "personal_data"

    final = list(rows)
    for row in injected:
        final.insert(rng.randint(0, len(final)), row)
    out: list[AnchorPoint] = []
    defects: dict[int, str] = {}
    partners: set[int] = set()
    for line, row in enumerate(final, start=1):
        p = row.point
        out.append(AnchorPoint(p.messages, line, p.label, dict(p.extra)))
        if row.code:
            defects[line] = row.code
        if row.partner:
            partners.add(line)
    return out, defects, partners
