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
    count: int = 4000
    typo_rate: float = 0.02  # chance that a character is dropped or swapped
    label_noise: float = 0.03  # tickets filed under a random class, as agents sometimes do
    seed: int = 0


def fill(template: str, rng: np.random.Generator) -> str:
    while "{" in template:
        start = template.index("{")
        slot = template[start + 1 : template.index("}", start)]
        template = template.replace(f"{{{slot}}}", str(rng.choice(SLOTS[slot])), 1)
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


def synthesize(p: Synthetic) -> pd.DataFrame:
    rng = np.random.default_rng(p.seed)
    classes = list(REQUESTS)
    labels = [classes[i] for i in rng.integers(0, len(classes), p.count)]
    texts = [ticket(y, rng, p.typo_rate) for y in labels]
    for i in np.flatnonzero(rng.random(p.count) < p.label_noise):
        labels[i] = classes[rng.integers(len(classes))]
    return pd.DataFrame({"text": texts, "label": labels})
