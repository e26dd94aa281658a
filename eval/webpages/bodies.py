"""The advice itself of the labelled test pages: title, and (heading, paragraphs) sections.

A paragraph that starts with "- " is a list of items (one per "\n- "). Written as the body of articles
on relationship advice sites; the site furniture around them is in make_pages.py.
"""

from __future__ import annotations

BODIES: dict[str, dict] = {
    "rebuild-trust": {
        "title": "How to Rebuild Trust After a Big Fight",
        "sections": [
            (
                "",
                [
                    "A big fight can leave both partners wondering whether the relationship is still safe. "
                    "Trust rarely breaks in a single moment, and it is rarely rebuilt in one either.",
                ],
            ),
            (
                "Start with a real apology",
                [
                    "An apology that works names the specific thing you did and the effect it had. "
                    "Skip the word but, because everything after it cancels what came before.",
                    "Give your partner time to respond without rushing them toward forgiveness. "
                    "Pressure to move on quickly often feels like a second injury.",
                ],
            ),
            (
                "Make small promises and keep them",
                [
                    "Trust grows back through boring reliability: calling when you said you would, arriving on time, "
                    "following through on chores. Each kept promise is a small deposit.",
                    "Avoid grand gestures in the first weeks. A surprise trip cannot replace a month of showing up.",
                ],
            ),
            (
                "Talk about what happened once things are calm",
                [
                    "Pick a quiet evening, not the hour after another argument, to talk about what led to the fight. "
                    "Ask what each of you needed and did not get.",
                ],
            ),
        ],
    },
    "clingy": {
        "title": "How to Stop Being Clingy Without Pulling Away",
        "sections": [
            (
                "",
                [
                    "Feeling anxious when your partner is busy is common, especially early in a relationship. "
                    "The goal is not to care less but to soothe the anxiety yourself.",
                ],
            ),
            (
                "Notice the urge before you act on it",
                [
                    "When you want to send a third text in an hour, pause and name the feeling behind it. "
                    "Often it is fear of being forgotten rather than anything your partner did.",
                ],
            ),
            (
                "Build a life outside the relationship",
                [
                    "Keep the friendships, hobbies and routines you had before you met. "
                    "A full week of your own makes a quiet evening apart feel like rest instead of rejection.",
                    "- Schedule one evening a week with friends.\n- Take a class that has nothing to do with your partner.\n"
                    "- Keep your own morning routine.",
                ],
            ),
            (
                "Ask for reassurance directly",
                [
                    "Instead of testing your partner, tell them what helps: a message at lunch, a goodnight call. "
                    "Most partners are glad to give reassurance they are asked for plainly.",
                ],
            ),
        ],
    },
    "money-talk": {
        "title": "How Couples Can Talk About Money Without Fighting",
        "sections": [
            (
                "",
                [
                    "Money is one of the most common sources of conflict between partners. "
                    "The numbers matter less than the feelings each person attaches to them.",
                ],
            ),
            (
                "Share your money stories first",
                [
                    "Before you compare budgets, tell each other how money was handled in the homes you grew up in. "
                    "A partner who watched parents argue over bills may freeze when the topic comes up.",
                ],
            ),
            (
                "Set a regular money date",
                [
                    "Choose a fixed time each month to look at spending together, with coffee and no phones. "
                    "A routine removes the sense of being ambushed.",
                    "Keep the first few meetings short, twenty minutes at most, so neither of you dreads the next one.",
                ],
            ),
            (
                "Agree on personal spending money",
                [
                    "Give each partner an amount they can spend without explaining it. "
                    "This small freedom prevents many arguments about coffee and hobbies.",
                ],
            ),
        ],
    },
    "long-distance": {
        "title": "Making a Long-Distance Relationship Work",
        "sections": [
            (
                "",
                [
                    "Distance tests a relationship, but it also forces couples to communicate deliberately. "
                    "Many long-distance couples report feeling closer once they find a rhythm.",
                ],
            ),
            (
                "Plan the next visit before this one ends",
                [
                    "Having a date on the calendar gives both of you something concrete to look forward to. "
                    "Uncertainty about when you will meet again is often harder than the distance itself.",
                ],
            ),
            (
                "Share ordinary moments",
                [
                    "Send a photo of your lunch or a voice note from your walk home. "
                    "Small updates keep you part of each other's daily life, which long calls alone cannot do.",
                ],
            ),
            (
                "Agree on how you will handle jealousy",
                [
                    "Talk early about what feels like a breach of trust, such as late nights out without a message. "
                    "Clear expectations stop suspicion from filling the gaps.",
                ],
            ),
        ],
    },
    "apologise": {
        "title": "The Art of Apologizing to Your Partner",
        "sections": [
            (
                "",
                [
                    "Saying sorry is easy; apologizing well is a skill that most of us were never taught.",
                ],
            ),
            (
                "Take responsibility without excuses",
                [
                    "A real apology owns the action and leaves out the reasons you had for it. "
                    "Explanations can come later, once your partner feels heard.",
                ],
            ),
            (
                "Describe the impact",
                [
                    "Say what you understand your behaviour cost your partner, such as embarrassment in front of friends. "
                    "Naming the impact shows you see their side and not only your intentions.",
                ],
            ),
            (
                "Offer a repair",
                [
                    "Ask what would help make things right, and be ready for the answer to be simple. "
                    "Sometimes the repair is only a promise to check in before making plans.",
                ],
            ),
        ],
    },
    "listening": {
        "title": "Why Listening Matters More Than Advice in a Relationship",
        "sections": [
            (
                "",
                [
                    "When a partner shares a problem, the instinct is to fix it. "
                    "Most of the time they want to feel understood first.",
                ],
            ),
            (
                "Reflect before you respond",
                [
                    "Repeat back the gist of what you heard in your own words. "
                    "This simple step catches misunderstandings before they turn into arguments.",
                ],
            ),
            (
                "Ask whether they want help",
                [
                    "A short question such as do you want ideas or do you want me to listen can prevent hurt feelings. "
                    "Partners often answer honestly when the choice is offered.",
                ],
            ),
            (
                "Put the phone away",
                [
                    "Glancing at a screen during a serious talk signals that the conversation is not a priority. "
                    "Turn the phone face down or leave it in another room.",
                ],
            ),
        ],
    },
    "jealousy": {
        "title": "What to Do When Jealousy Takes Over",
        "sections": [
            (
                "",
                [
                    "Jealousy is a normal emotion, but acting on it without thought can damage a relationship quickly.",
                ],
            ),
            (
                "Separate the feeling from the facts",
                [
                    "Write down what actually happened and, next to it, the story you told yourself about it. "
                    "The gap between the two is usually where jealousy lives.",
                ],
            ),
            (
                "Talk about needs, not accusations",
                [
                    "Say I felt left out when you spent the party with your colleague rather than asking why they flirted. "
                    "A need can be met; an accusation can only be defended against.",
                ],
            ),
            (
                "Look at old wounds",
                [
                    "Strong jealousy often echoes an earlier betrayal, by a parent or a former partner. "
                    "A therapist can help untangle past hurt from the present relationship.",
                ],
            ),
        ],
    },
    "quality-time": {
        "title": "Simple Ways to Spend Quality Time Together",
        "sections": [
            (
                "",
                [
                    "Busy couples often share a home but little attention. Quality time is about focus, not hours.",
                ],
            ),
            (
                "Protect a weekly date night",
                [
                    "Put a date night in the calendar and treat it like an appointment you would not cancel. "
                    "It does not need to cost money; a walk and a shared dessert count.",
                ],
            ),
            (
                "Try something new together",
                [
                    "Novel activities, like a dance lesson or an unfamiliar hiking trail, release the same excitement "
                    "couples felt when they first met. Doing something slightly challenging together builds closeness.",
                ],
            ),
            (
                "Create small daily rituals",
                [
                    "A ten-minute coffee before work or a shared check-in at bedtime keeps you connected on hard days.",
                    "- Ask about the best part of each other's day.\n- Cook one meal together each week.\n"
                    "- Take a short walk after dinner.",
                ],
            ),
        ],
    },
    "boundaries": {
        "title": "Setting Healthy Boundaries With Your Partner",
        "sections": [
            (
                "",
                [
                    "Boundaries are not walls; they are the limits that let two people stay close without resentment.",
                ],
            ),
            (
                "Know your limits first",
                [
                    "Notice the moments when you feel drained or resentful, since they often point to a boundary that was crossed. "
                    "You cannot state a limit you have not noticed yourself.",
                ],
            ),
            (
                "State boundaries calmly and early",
                [
                    "Raise a boundary when you are calm, not in the middle of a fight. "
                    "Say what you need in one or two sentences and avoid long justifications.",
                ],
            ),
            (
                "Expect some pushback",
                [
                    "A partner used to the old pattern may test a new boundary. "
                    "Holding it kindly and consistently is what makes it real.",
                ],
            ),
        ],
    },
    "in-laws": {
        "title": "How to Handle Conflict With Your In-Laws",
        "sections": [
            (
                "",
                [
                    "Tension with a partner's family puts stress on the relationship itself. "
                    "Handling it as a team keeps the conflict from becoming a fight between the two of you.",
                ],
            ),
            (
                "Let each partner handle their own family",
                [
                    "When a problem arises with your partner's parents, ask your partner to raise it with them. "
                    "Criticism lands more softly when it comes from their own child.",
                ],
            ),
            (
                "Agree on a united front",
                [
                    "Decide together how often you visit and how long you stay before the holidays arrive. "
                    "A plan made in advance is easier to defend than one made under pressure.",
                ],
            ),
            (
                "Keep some distance when needed",
                [
                    "It is fine to limit visits or topics that always end badly. "
                    "Protecting your household is not a betrayal of your family.",
                ],
            ),
        ],
    },
    "after-baby": {
        "title": "Keeping Your Relationship Strong After Having a Baby",
        "sections": [
            (
                "",
                [
                    "A new baby brings joy and exhaustion in equal measure, and couples often feel like teammates rather than partners.",
                ],
            ),
            (
                "Divide the night shifts fairly",
                [
                    "Agree on who gets up at which hours so that each parent gets one longer stretch of sleep. "
                    "Sleep deprivation makes every disagreement feel bigger.",
                ],
            ),
            (
                "Find ten minutes for each other",
                [
                    "Even a short conversation that is not about feeding schedules reminds you why you became a couple. "
                    "Ask a question about something other than the baby.",
                ],
            ),
            (
                "Accept help from others",
                [
                    "Let a friend or grandparent take the baby for an hour so you can nap or take a walk together. "
                    "Accepting help is a gift to the relationship, not a failure.",
                ],
            ),
        ],
    },
    "moving-in": {
        "title": "What to Talk About Before Moving In Together",
        "sections": [
            (
                "",
                [
                    "Moving in together is exciting, but many couples skip the practical conversations that prevent later fights.",
                ],
            ),
            (
                "Chores and cleanliness",
                [
                    "Discuss what clean means to each of you before the first week of shared dishes. "
                    "One partner's tidy is often the other's mess.",
                ],
            ),
            (
                "Alone time at home",
                [
                    "Decide how you will signal that you need time alone without it being taken as rejection. "
                    "Some couples use headphones or a closed door as an agreed sign.",
                ],
            ),
            (
                "Splitting the rent",
                [
                    "Splitting rent by income rather than half and half can feel fairer when salaries differ a lot. "
                    "Whatever you choose, write it down so it is not renegotiated in every argument.",
                ],
            ),
        ],
    },
    "trust-issues": {
        "title": "Overcoming Trust Issues From Past Relationships",
        "sections": [
            (
                "",
                [
                    "Carrying hurt from a former partner into a new relationship is common and understandable.",
                ],
            ),
            (
                "Name the pattern",
                [
                    "Notice when you react to your current partner as if they were the person who hurt you. "
                    "Saying this out loud can take the sting out of the moment.",
                ],
            ),
            (
                "Share your history gradually",
                [
                    "Tell your partner what happened before, at a pace that feels safe. "
                    "Knowing the context helps them respond with patience instead of defensiveness.",
                ],
            ),
            (
                "Give trust in steps",
                [
                    "Trust does not have to be all or nothing. "
                    "Extend a little, notice when it is honoured, and extend a little more.",
                ],
            ),
        ],
    },
    "criticism": {
        "title": "How to Give Your Partner Feedback Without Criticism",
        "sections": [
            (
                "",
                [
                    "Couples researchers describe criticism as an attack on character rather than a complaint about behaviour.",
                ],
            ),
            (
                "Use a gentle start-up",
                [
                    "Begin with what you feel and what you need, for example I feel overwhelmed and need help with dinner. "
                    "Conversations tend to end the way they start.",
                ],
            ),
            (
                "Complain about one thing at a time",
                [
                    "Bringing up a list of past grievances turns a small request into a trial. "
                    "Stick to the issue in front of you.",
                ],
            ),
            (
                "Notice what goes right",
                [
                    "Aim for several positive comments for every negative one. "
                    "Appreciation makes feedback easier to hear.",
                ],
            ),
        ],
    },
    "spark": {
        "title": "Bringing Back the Spark in a Long Marriage",
        "sections": [
            (
                "",
                [
                    "After years together, routine can crowd out romance, but the spark can be rekindled deliberately.",
                ],
            ),
            (
                "Flirt like you used to",
                [
                    "Send an unexpected message in the middle of the day or leave a note in a coat pocket. "
                    "Playfulness signals that you still see your partner as desirable.",
                ],
            ),
            (
                "Revisit your early memories",
                [
                    "Look through old photos or return to the place of your first date. "
                    "Reminiscing brings back the feelings attached to those moments.",
                ],
            ),
            (
                "Touch more often",
                [
                    "A hand on the back or a long hug when you come home keeps physical closeness alive. "
                    "Non-sexual touch builds a sense of safety and affection.",
                ],
            ),
        ],
    },
    "breakup-recovery": {
        "title": "How to Heal After a Breakup",
        "sections": [
            (
                "",
                [
                    "The end of a relationship can feel like grief, and it deserves the same gentleness.",
                ],
            ),
            (
                "Allow yourself to feel it",
                [
                    "Give yourself permission to be sad instead of rushing to feel fine. "
                    "Emotions that are pushed away tend to return later and louder.",
                ],
            ),
            (
                "Limit contact for a while",
                [
                    "Muting or unfollowing your former partner on social media gives your mind room to adjust. "
                    "Checking their profile keeps the wound open.",
                ],
            ),
            (
                "Lean on your people",
                [
                    "Spend time with friends and family who remind you who you are outside the relationship. "
                    "Structure your weekends so that you are not alone with your thoughts for days.",
                ],
            ),
        ],
    },
    "texting": {
        "title": "Texting in a New Relationship: What Is Too Much?",
        "sections": [
            (
                "",
                [
                    "There is no perfect number of messages a day, but mismatched expectations cause a lot of anxiety.",
                ],
            ),
            (
                "Match the rhythm gradually",
                [
                    "Notice how often your date tends to reply and aim for a similar pace. "
                    "A steady rhythm feels more comfortable than bursts of messages followed by silence.",
                ],
            ),
            (
                "Save big topics for in person",
                [
                    "Serious conversations about feelings or conflicts go better face to face. "
                    "Tone is easily misread in a text.",
                ],
            ),
            (
                "Talk about it openly",
                [
                    "If texting habits bother you, say so with curiosity rather than complaint. "
                    "Some people simply dislike their phones.",
                ],
            ),
        ],
    },
    "gratitude": {
        "title": "Why Gratitude Keeps Couples Together",
        "sections": [
            (
                "",
                [
                    "Feeling appreciated is one of the strongest predictors of lasting satisfaction in a relationship.",
                ],
            ),
            (
                "Say thank you for ordinary things",
                [
                    "Thank your partner for taking out the trash or making the coffee. "
                    "Everyday thanks show that their effort is noticed.",
                ],
            ),
            (
                "Be specific",
                [
                    "Instead of thanks for everything, say thank you for calling my mother when I was too tired. "
                    "Specific praise feels sincere.",
                ],
            ),
            (
                "Keep a shared gratitude list",
                [
                    "Some couples keep a note on the fridge where each adds one thing they appreciated that week. "
                    "Reading it on a bad day is a reminder of what is good.",
                ],
            ),
        ],
    },
    "mismatched-libido": {
        "title": "When One Partner Wants More Intimacy Than the Other",
        "sections": [
            (
                "",
                [
                    "Differences in desire are among the most common challenges long-term couples face.",
                ],
            ),
            (
                "Remove blame from the conversation",
                [
                    "Neither the higher nor the lower desire partner is the problem. "
                    "Treat the difference as a shared puzzle rather than a personal failing.",
                ],
            ),
            (
                "Widen the definition of intimacy",
                [
                    "Cuddling, showering together or a slow dance in the kitchen all build closeness. "
                    "Intimacy without pressure often makes desire easier to find.",
                ],
            ),
            (
                "Consider a sex therapist",
                [
                    "A certified sex therapist can help couples talk about desire without embarrassment. "
                    "Many people find that a few sessions change the tone at home.",
                ],
            ),
        ],
    },
    "fair-fighting": {
        "title": "Rules for Fighting Fair",
        "sections": [
            (
                "",
                [
                    "Every couple argues; what matters is whether the arguments bring you closer or push you apart.",
                ],
            ),
            (
                "Take a break when flooded",
                [
                    "If your heart is racing and you cannot think clearly, ask for a twenty-minute pause. "
                    "Agree to return to the topic so the break is not taken as walking away.",
                ],
            ),
            (
                "Never use the words always or never",
                [
                    "Absolute words turn a single event into a judgement of your partner's character. "
                    "Talk about the specific time instead.",
                ],
            ),
            (
                "End with a repair",
                [
                    "A touch, a joke or an acknowledgement that you both care can end an argument on a better note. "
                    "Repair attempts are what successful couples do differently.",
                ],
            ),
        ],
    },
    "dating-apps": {
        "title": "A Calmer Way to Use Dating Apps",
        "sections": [
            (
                "",
                [
                    "Endless swiping can leave people feeling more lonely than before they opened the app.",
                ],
            ),
            (
                "Set a time limit",
                [
                    "Use the apps for a fixed twenty minutes a day rather than whenever you feel bored. "
                    "Limiting time reduces burnout and makes each match feel less disposable.",
                ],
            ),
            (
                "Move to a real date sooner",
                [
                    "Suggest meeting within a week or two of matching instead of texting for a month. "
                    "Chemistry is hard to judge through a screen.",
                ],
            ),
            (
                "Write a specific profile",
                [
                    "Mention a concrete interest, such as the bakery you visit every Saturday, instead of saying you love to laugh. "
                    "Specific details give people something to start a conversation with.",
                ],
            ),
        ],
    },
    "friendship-couple": {
        "title": "Why Couples Need Friends of Their Own",
        "sections": [
            (
                "",
                [
                    "Expecting a partner to be your best friend, therapist and only companion puts heavy pressure on a relationship.",
                ],
            ),
            (
                "Friends share the emotional load",
                [
                    "Talking through a work problem with a friend means your partner is not the only outlet for every worry. "
                    "That leaves more room for fun together.",
                ],
            ),
            (
                "Make time for friends on purpose",
                [
                    "Schedule regular evenings with friends the same way you schedule date nights. "
                    "Friendships fade quietly when they are only fitted into leftover time.",
                ],
            ),
            (
                "Support your partner's friendships",
                [
                    "Encourage your partner to see their friends without you and ask about it afterwards with interest. "
                    "Being glad for their other connections builds trust.",
                ],
            ),
        ],
    },
    "stonewalling": {
        "title": "What to Do When Your Partner Shuts Down During Arguments",
        "sections": [
            (
                "",
                [
                    "Some partners go silent and withdraw when a conversation gets heated, which the other often reads as not caring.",
                ],
            ),
            (
                "Understand the shutdown",
                [
                    "Withdrawal is often a response to feeling overwhelmed rather than indifference. "
                    "The silent partner may be trying to avoid saying something hurtful.",
                ],
            ),
            (
                "Agree on a signal",
                [
                    "Choose a word or gesture that means I need a break but I will come back. "
                    "This turns silence into a pause both partners understand.",
                ],
            ),
            (
                "Lower the intensity",
                [
                    "Speak more slowly and sit side by side instead of face to face. "
                    "A calmer setting makes it easier for a withdrawn partner to stay in the conversation.",
                ],
            ),
        ],
    },
    "love-languages": {
        "title": "Learning How Your Partner Feels Loved",
        "sections": [
            (
                "",
                [
                    "People express and receive affection in different ways, and couples can miss each other's signals.",
                ],
            ),
            (
                "Watch how they show love",
                [
                    "Partners often give affection the way they would like to receive it. "
                    "If your partner fixes things around the house, acts of service may matter to them.",
                ],
            ),
            (
                "Ask about meaningful moments",
                [
                    "Ask your partner when they felt most loved by you in the past month. "
                    "The answer is often surprising and very practical.",
                ],
            ),
            (
                "Mix different gestures",
                [
                    "Combine words of appreciation, small gifts and time together rather than relying on one habit. "
                    "Variety keeps affection from becoming routine.",
                ],
            ),
        ],
    },
}
