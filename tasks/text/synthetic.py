"""Seeded support tickets in four classes that share their vocabulary.

Each ticket has one request that decides its class, phrased one of several ways, among
context sentences drawn from one pool for every class. Words such as "order", "account",
"payment" and "app" appear in every class, so no single keyword decides; typos and a few
mislabelled tickets add noise.
Most tickets are short and a few ramble, as real ones do.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tasks.common.errors import InputError

REQUESTS = {
    "billing": [
        "I was charged twice for {thing}",
        "the invoice for {thing} shows the wrong amount",
        "why did my card get billed {amount} again this month",
        "please refund the extra charge on my order",
        "my payment went through but the price on the receipt is wrong",
        "there is a fee on my statement I never agreed to",
        "the discount code was not applied to my payment",
        "I cancelled but my account was still charged {amount}",
    ],
    "delivery": [
        "{thing} has not arrived yet",
        "the courier left my order at the wrong address",
        "tracking says delivered but nothing came",
        "my parcel has been stuck in transit for {days} days",
        "the box with {thing} arrived damaged",
        "can you change the delivery address on my account for {thing}",
        "only half of my order was in the package",
        "the driver never rang and took {thing} back to the depot",
    ],
    "technical": [
        "the app crashes when I open my order history",
        "I get error {code} when I try to pay",
        "the page keeps loading forever when I check my account",
        "the website freezes at checkout for {thing}",
        "notifications stopped working after the update",
        "the app will not sync with my phone since {days} days",
        "the search shows a blank screen every time",
        "the payment button does nothing when I tap it",
    ],
    "account": [
        "I cannot log in to my account",
        "please reset my password, the link has expired",
        "how do I change the email address on my account",
        "my account was locked after {n} wrong attempts",
        "I want to delete my profile and all my data",
        "the two factor code never arrives on my phone",
        "someone else changed the name on my account",
        "I need to merge my two accounts into one",
    ],
}
CONTEXT = [
    "I ordered {thing} last week.",
    "My order number is {order}.",
    "I paid with my credit card.",
    "I use the app on my phone.",
    "This is the second time I write to you.",
    "Please help as soon as possible.",
    "Thanks in advance.",
    "I have been a customer for {n} years.",
    "My account email is {email}.",
    "The payment was {amount}.",
    "It was supposed to be a gift.",
    "I already tried the help page.",
    "Your chat was not answering.",
    "I checked my account this morning.",
]
SLOTS = {
    "thing": [
        "the headphones",
        "my new laptop",
        "the blue jacket",
        "order {order}",
        "the gift card",
    ],
    "amount": ["$19.99", "$250", "twice the price", "49 euros", "$5.00"],
    "days": ["3", "five", "10", "two"],
    "code": ["500", "E42", "403", "0x1F"],
    "n": ["3", "five", "ten", "2"],
    "order": ["#48213", "A-1077", "99120", "#5530"],
    "email": ["sam@example.com", "j.doe@example.org", "kim@example.net"],
}
OPENERS = ["", "", "Hi, ", "Hello, ", "Hey team, ", "Good morning. "]


@dataclass(frozen=True)
class Synthetic:
    shape: str = "default"  # or spam: short messages, 13% spam, as SMS and comment spam sets
    count: int = 4000
    typo_rate: float = 0.02  # chance that a character is dropped or swapped
    label_noise: float = 0.03  # tickets filed under a random class, as agents sometimes do
    seed: int = 0


# Short messages in the spirit of SMS and comment spam collections: spam shares words with
# ham ("free", "call", "check"), so no single keyword decides.
MESSAGES = {
    "ham": [
        "are we still on for {time}",
        "call me when you get this",
        "i'll be late, {excuse}",
        "check out the new photos from {place}",
        "thanks for the lift yesterday",
        "this song is so good, i've had it on repeat all week",
        "free tonight? want to get food at {place}",
        "can you send me the notes from {time}",
        "love this video, the chorus gets me every time",
        "ok see you at {place}",
    ],
    "spam": [
        "free entry to win {prize}, text {code} to {number} now",
        "congratulations! you have been selected for {prize}, call {number}",
        "check out my channel for {prize} giveaways, subscribe now",
        "urgent: your account is suspended, verify at {link}",
        "earn {amount} a day from home, visit {link}",
        "claim your {prize} before {time}, reply {code}",
    ],
}
SPAM_SLOTS = {
    "time": ["friday", "tomorrow", "8pm", "the weekend", "monday's lecture"],
    "excuse": ["train's delayed", "stuck in traffic", "meeting ran over"],
    "place": ["the pub", "mum's", "the beach", "town", "the usual place"],
    "prize": ["a $500 gift card", "an iphone", "a free cruise", "cash prizes"],
    "code": ["WIN", "CLAIM", "GO", "YES"],
    "number": ["08712460324", "87121", "0800 505 060"],
    "link": ["bit.ly/x7ab2", "www.free-prize.co", "tinyurl.com/claim-now"],
    "amount": ["$300", "$1,000", "£250"],
}
SPAM_RATE = 0.13
SHAPES = ("default", "spam")


def fill(template: str, rng: np.random.Generator, slots: dict = SLOTS) -> str:
    while "{" in template:
        start = template.index("{")
        slot = template[start + 1 : template.index("}", start)]
        template = template.replace(f"{{{slot}}}", str(rng.choice(slots[slot])), 1)
    return template


def add_typos(text: str, rate: float, rng: np.random.Generator) -> str:
    chars = list(text)
    for i in np.flatnonzero(rng.random(len(chars)) < rate)[::-1]:
        if rng.random() < 0.5 or i + 1 >= len(chars):
            del chars[i]
        else:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


def ticket(label: str, rng: np.random.Generator, typo_rate: float) -> str:
    # geometric: most tickets carry no or one context sentence, a few carry many
    n_context = min(rng.geometric(0.55) - 1, 6)
    sentences = [fill(str(rng.choice(CONTEXT)), rng) for _ in range(n_context)]
    request = fill(str(rng.choice(REQUESTS[label])), rng)
    sentences.insert(int(rng.integers(0, n_context + 1)), request[0].upper() + request[1:] + ".")
    return add_typos(str(rng.choice(OPENERS)) + " ".join(sentences), typo_rate, rng)


def message(label: str, rng: np.random.Generator, typo_rate: float) -> str:
    return add_typos(fill(str(rng.choice(MESSAGES[label])), rng, SPAM_SLOTS), typo_rate, rng)


def synthesize(p: Synthetic) -> pd.DataFrame:
    if p.shape not in SHAPES:
        raise InputError(
            f"text.ingest.synthetic.shape {p.shape!r} is unknown; choose from {', '.join(SHAPES)}"
        )
    rng = np.random.default_rng(p.seed)
    if p.shape == "spam":
        classes = list(MESSAGES)
        labels = [classes[int(spam)] for spam in rng.random(p.count) < SPAM_RATE]
        texts = [message(y, rng, p.typo_rate) for y in labels]
    else:
        classes = list(REQUESTS)
        labels = [classes[i] for i in rng.integers(0, len(classes), p.count)]
        texts = [ticket(y, rng, p.typo_rate) for y in labels]
    for i in np.flatnonzero(rng.random(p.count) < p.label_noise):
        labels[i] = classes[rng.integers(len(classes))]
    return pd.DataFrame({"text": texts, "label": labels})
