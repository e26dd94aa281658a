"""One question per test page, with the words of the sentence that answers it (a passage that holds
them is relevant)."""

from __future__ import annotations

QUESTIONS: dict[str, tuple[str, str]] = {
    "rebuild-trust": ("why should I avoid saying but in an apology?", "Skip the word but"),
    "clingy": (
        "what should I do when I want to send another text to my partner?",
        "pause and name the feeling",
    ),
    "money-talk": (
        "how often should couples review their spending together?",
        "Choose a fixed time each month",
    ),
    "long-distance": (
        "what helps long distance couples look forward to seeing each other?",
        "Having a date on the calendar",
    ),
    "apologise": ("should I explain my reasons when I apologize?", "A real apology owns the action"),
    "listening": ("how do I check I understood what my partner said?", "Repeat back the gist"),
    "jealousy": ("how can I tell if my jealousy is based on facts?", "Write down what actually happened"),
    "quality-time": ("do date nights have to be expensive?", "It does not need to cost money"),
    "boundaries": ("when is the best time to bring up a boundary?", "Raise a boundary when you are calm"),
    "in-laws": (
        "who should talk to my partner's parents about a problem?",
        "ask your partner to raise it with them",
    ),
    "after-baby": ("how should new parents share night feedings?", "Agree on who gets up at which hours"),
    "moving-in": ("how should we split the rent when one of us earns more?", "Splitting rent by income"),
    "trust-issues": (
        "I react to my new partner as if they were my ex",
        "Notice when you react to your current partner",
    ),
    "criticism": (
        "how should I start a conversation about a complaint?",
        "Begin with what you feel and what you need",
    ),
    "spark": (
        "how can I be more playful with my spouse?",
        "Send an unexpected message in the middle of the day",
    ),
    "breakup-recovery": (
        "should I keep checking my ex's social media?",
        "Muting or unfollowing your former partner",
    ),
    "texting": ("how often should I reply to texts from someone I'm dating?", "aim for a similar pace"),
    "gratitude": ("how do I make my thanks feel sincere?", "Specific praise feels sincere"),
    "mismatched-libido": (
        "my partner and I want different amounts of sex",
        "Treat the difference as a shared puzzle",
    ),
    "fair-fighting": (
        "what do I do when I'm too worked up to argue calmly?",
        "ask for a twenty-minute pause",
    ),
    "dating-apps": ("how long should I spend swiping each day?", "fixed twenty minutes a day"),
    "friendship-couple": (
        "why shouldn't my partner be my only confidant?",
        "your partner is not the only outlet",
    ),
    "stonewalling": (
        "why does my partner go silent when we argue?",
        "Withdrawal is often a response to feeling overwhelmed",
    ),
    "love-languages": (
        "how do I find out what makes my partner feel loved?",
        "when they felt most loved by you",
    ),
}
