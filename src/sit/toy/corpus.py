"""A synthetic instruction corpus built from the project's own templates (no downloads).

:func:`make_corpus` returns varied English instruction/response pairs over several task types,
mixed on purpose with bad items (refusals, non-English, repetitive, too short, too long, ``:``
lead-ins, exact and near duplicates) so that every downstream filter has real work to do. Each
item's ``kind`` says which is which (``clean`` for a good one) and ``task`` names the task type.

:func:`reward_triples` yields ``(question, good, bad)`` triples for training a reward model.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

# --------------------------------------------------------------------------- slot fillers

DOMAINS: dict[str, dict[str, list[str] | str]] = {
    "cooking": {
        "field": "cooking",
        "people": "home cooks",
        "concepts": ["caramelization", "the Maillard reaction", "a sourdough starter", "emulsions",
                     "brining", "knife skills", "meal prepping", "fermentation", "food safety temperatures",
                     "seasoning with salt", "braising", "baking soda and baking powder"],
        "activities": ["bake a loaf of bread at home", "make a simple tomato sauce", "cook rice without it sticking",
                       "plan meals for a busy week", "sharpen a kitchen knife", "make soup from leftover vegetables",
                       "roast vegetables evenly", "store fresh herbs longer"],
        "goals": ["cook meals that taste better", "waste less food", "save time on busy evenings",
                  "get the texture right"],
        "mistakes": ["rushing the prep work", "crowding the pan", "skipping the tasting step",
                     "using heat that is too high"],
        "benefits": ["deeper flavor", "more consistent results", "less waste", "meals that are easier to repeat"],
        "picture": ["a recipe that you adjust as you go", "a small experiment on the stove",
                    "a routine that gets faster with practice"],
    },
    "gardening": {
        "field": "gardening",
        "people": "gardeners",
        "concepts": ["composting", "crop rotation", "companion planting", "soil pH", "mulching", "pollination",
                     "drip irrigation", "pruning fruit trees", "raised garden beds", "seed germination",
                     "native plants", "cover crops"],
        "activities": ["start a vegetable garden on a balcony", "grow tomatoes from seed", "keep houseplants alive",
                       "make compost in a small yard", "water a garden during a heat wave",
                       "protect plants from slugs", "plant bulbs in the autumn", "repot a root-bound plant"],
        "goals": ["grow healthier plants", "get a bigger harvest", "keep the soil rich", "attract bees and birds"],
        "mistakes": ["overwatering", "planting too close together", "ignoring the soil", "pruning at the wrong time"],
        "benefits": ["stronger roots", "fewer pests", "richer soil", "a longer growing season"],
        "picture": ["a small ecosystem in your backyard", "a savings account for the soil",
                    "a team of plants that help each other"],
    },
    "personal finance": {
        "field": "personal finance",
        "people": "savers",
        "concepts": ["compound interest", "an emergency fund", "index funds", "inflation", "a credit score",
                     "budgeting with the fifty thirty twenty rule", "diversification", "a high interest debt",
                     "a retirement account", "dollar cost averaging", "net worth", "an annual percentage rate"],
        "activities": ["build an emergency fund", "make a monthly budget", "pay off a credit card faster",
                       "start investing with a small amount", "save for a holiday", "track daily spending",
                       "negotiate a lower phone bill", "prepare for a large purchase"],
        "goals": ["keep more of each paycheck", "reach a savings goal", "avoid costly debt", "plan for the future"],
        "mistakes": ["spending without a plan", "ignoring small fees", "chasing quick gains",
                     "waiting too long to start"],
        "benefits": ["less money stress", "steady long term growth", "more freedom to choose", "a safety cushion"],
        "picture": ["a snowball rolling down a hill", "a bucket that slowly fills with water",
                    "a map for every euro you earn"],
    },
    "physics": {
        "field": "physics",
        "people": "students",
        "concepts": ["gravity", "friction", "kinetic energy", "electric current", "sound waves", "magnetism",
                     "buoyancy", "the speed of light", "heat transfer", "momentum", "air pressure",
                     "the refraction of light"],
        "activities": ["measure the speed of a rolling ball", "build a simple electric circuit",
                       "show friction with a toy car", "make a paper rocket", "test which objects float",
                       "explain why the sky is blue", "build a small electromagnet", "study a swinging pendulum"],
        "goals": ["predict how objects move", "understand everyday events", "design safer machines",
                  "explain what we observe"],
        "mistakes": ["mixing up mass and weight", "forgetting the units", "ignoring friction",
                     "memorizing formulas without meaning"],
        "benefits": ["clear predictions", "a deeper view of nature", "better engineering", "simple rules for big ideas"],
        "picture": ["a ball rolling down a ramp", "ripples spreading on a pond", "a tug of war between forces"],
    },
    "biology": {
        "field": "biology",
        "people": "biology students",
        "concepts": ["photosynthesis", "cell division", "the immune system", "natural selection", "DNA replication",
                     "the water cycle in plants", "enzymes", "ecosystems", "the human heart", "bacteria",
                     "migration in birds", "the food chain"],
        "activities": ["observe cells under a microscope", "grow bacteria safely at school",
                       "study birds in a local park", "keep a nature journal", "test how light affects plants",
                       "identify trees by their leaves", "build a small terrarium", "learn the parts of a flower"],
        "goals": ["understand how living things work", "protect wildlife", "stay healthy",
                  "see patterns in nature"],
        "mistakes": ["confusing cause and effect", "skipping careful observation", "generalizing from one example",
                     "ignoring the environment"],
        "benefits": ["a clear picture of life", "better health choices", "respect for nature", "curiosity that grows"],
        "picture": ["a busy factory inside each cell", "a relay race of tiny parts", "a web of connected lives"],
    },
    "computing": {
        "field": "computing",
        "people": "programmers",
        "concepts": ["recursion", "version control", "a hash table", "unit testing", "cloud storage",
                     "an operating system", "encryption", "a database index", "machine learning",
                     "an application programming interface", "memory leaks", "open source software"],
        "activities": ["learn to code in Python", "set up a strong password system", "back up files automatically",
                       "speed up a slow laptop", "write clean functions", "debug a program step by step",
                       "build a personal website", "organize files on a computer"],
        "goals": ["write code that is easy to change", "keep data safe", "find bugs early", "work faster"],
        "mistakes": ["skipping tests", "copying code without reading it", "ignoring error messages",
                     "naming things badly"],
        "benefits": ["fewer bugs", "faster programs", "safer data", "code that others can read"],
        "picture": ["a set of labeled drawers", "a recipe that a machine follows", "a library with a catalog"],
    },
    "history": {
        "field": "history",
        "people": "historians",
        "concepts": ["the printing press", "the industrial revolution", "the Silk Road", "the Roman Republic",
                     "the Renaissance", "ancient Egyptian writing", "the invention of the telephone",
                     "medieval castles", "the age of exploration", "the first railways", "the Bronze Age",
                     "early democracy in Athens"],
        "activities": ["research the history of my town", "read a primary source critically",
                       "build a timeline for a school project", "visit a history museum with kids",
                       "interview a grandparent about the past", "study an old map",
                       "compare two historical accounts", "write a short history essay"],
        "goals": ["understand the present", "learn from past mistakes", "see how ideas spread",
                  "tell better stories"],
        "mistakes": ["judging the past only by today's standards", "trusting a single source",
                     "ignoring ordinary people", "mixing up dates and causes"],
        "benefits": ["a wider view of society", "sharper critical thinking", "a sense of connection",
                     "better questions about today"],
        "picture": ["a long chain of causes", "a conversation across centuries", "layers of paint on an old wall"],
    },
    "travel": {
        "field": "travel",
        "people": "travelers",
        "concepts": ["travel insurance", "jet lag", "packing light", "slow travel", "hostel etiquette",
                     "budget airlines", "travel visas", "off season travel", "train passes", "local street food",
                     "house sitting", "solo travel"],
        "activities": ["plan a weekend trip on a budget", "pack a carry on bag", "find cheap flights",
                       "travel with a small child", "avoid tourist traps", "learn basic phrases before a trip",
                       "stay safe in a new city", "recover from a long flight"],
        "goals": ["enjoy the trip more", "spend less money", "travel with less stress", "meet local people"],
        "mistakes": ["overpacking", "booking everything too late", "planning every minute",
                     "forgetting travel documents"],
        "benefits": ["more flexibility", "lower costs", "richer experiences", "calmer journeys"],
        "picture": ["a story you write as you go", "a backpack that holds only what matters",
                    "a puzzle of routes and times"],
    },
    "music": {
        "field": "music",
        "people": "musicians",
        "concepts": ["musical scales", "rhythm and tempo", "chord progressions", "ear training", "music theory",
                     "harmony", "sight reading", "the circle of fifths", "improvisation", "dynamics in music",
                     "song structure", "tuning a guitar"],
        "activities": ["learn the guitar as an adult", "practice piano every day", "write a simple song",
                       "sing in tune", "start a small band", "record music at home", "read sheet music",
                       "keep steady time with a metronome"],
        "goals": ["play with more confidence", "enjoy practice more", "write better songs", "play with others"],
        "mistakes": ["practicing too fast", "skipping the basics", "never recording yourself",
                     "playing with tense hands"],
        "benefits": ["cleaner playing", "better timing", "more creative ideas", "a stronger ear"],
        "picture": ["a language with its own grammar", "a conversation between instruments",
                    "a path you walk one step at a time"],
    },
    "fitness": {
        "field": "fitness",
        "people": "athletes",
        "concepts": ["interval training", "muscle recovery", "stretching", "cardio endurance", "strength training",
                     "good running form", "rest days", "core stability", "hydration during exercise",
                     "progressive overload", "warming up", "balance training"],
        "activities": ["start running as a beginner", "build a home workout routine", "stay motivated to exercise",
                       "improve flexibility", "train for a first five kilometer race", "exercise with back pain",
                       "build strength without a gym", "get back into shape after a break"],
        "goals": ["get stronger safely", "stay consistent", "avoid injuries", "feel more energetic"],
        "mistakes": ["doing too much too soon", "skipping the warm up", "ignoring pain", "never resting"],
        "benefits": ["more energy", "better sleep", "stronger muscles", "a healthier heart"],
        "picture": ["a staircase you climb slowly", "a battery that recharges with rest",
                    "a bank account for your health"],
    },
    "language learning": {
        "field": "language learning",
        "people": "language learners",
        "concepts": ["spaced repetition", "language immersion", "grammar drills", "shadowing", "pronunciation",
                     "false friends between languages", "vocabulary building", "language exchanges",
                     "listening practice", "verb conjugation", "reading graded books", "thinking in a new language"],
        "activities": ["learn a new language in my free time", "remember new vocabulary", "improve my accent",
                       "practice speaking without a partner", "understand fast native speakers",
                       "stay motivated while learning a language", "write short texts in a new language",
                       "prepare for a language exam"],
        "goals": ["speak with more confidence", "understand more every week", "remember words longer",
                  "enjoy the process"],
        "mistakes": ["studying only grammar", "being afraid of mistakes", "cramming once a week",
                     "never speaking out loud"],
        "benefits": ["faster progress", "better memory", "more natural speech", "new friendships"],
        "picture": ["a garden of words that needs regular watering", "a muscle that grows with use",
                    "a door that opens a little more each day"],
    },
    "productivity": {
        "field": "productivity",
        "people": "busy workers",
        "concepts": ["time blocking", "the Pomodoro technique", "deep work", "a to do list", "habit stacking",
                     "the two minute rule", "prioritization", "inbox zero", "batching similar tasks",
                     "weekly reviews", "saying no", "single tasking"],
        "activities": ["stop procrastinating on big tasks", "plan a productive week", "focus while working from home",
                       "run shorter meetings", "organize a cluttered desk", "manage a busy email inbox",
                       "build a morning routine", "balance work and study"],
        "goals": ["finish important work first", "feel less overwhelmed", "protect your focus", "keep promises"],
        "mistakes": ["multitasking", "planning without priorities", "checking messages constantly",
                     "saying yes to everything"],
        "benefits": ["more free time", "less stress", "clearer priorities", "steady progress"],
        "picture": ["a budget for your hours", "a filter for incoming tasks", "a calm harbor in a busy day"],
    },
    "environment": {
        "field": "the environment",
        "people": "communities",
        "concepts": ["renewable energy", "recycling", "the greenhouse effect", "deforestation", "ocean plastic",
                     "carbon footprints", "water conservation", "biodiversity", "solar panels", "electric cars",
                     "composting food waste", "air pollution"],
        "activities": ["reduce plastic at home", "save energy in winter", "start recycling at work",
                       "use less water in the garden", "plan a low waste picnic", "commute in a greener way",
                       "teach kids about nature", "organize a beach clean up"],
        "goals": ["protect natural resources", "cut pollution", "save money and energy", "keep cities livable"],
        "mistakes": ["assuming small steps do not matter", "wishcycling", "buying more than needed",
                     "ignoring local rules"],
        "benefits": ["cleaner air", "lower bills", "healthier ecosystems", "a safer future"],
        "picture": ["a shared home that needs care", "a bathtub that slowly fills", "a balance scale"],
    },
    "photography": {
        "field": "photography",
        "people": "photographers",
        "concepts": ["the exposure triangle", "depth of field", "the rule of thirds", "shutter speed",
                     "natural light", "white balance", "portrait lighting", "long exposure", "aperture",
                     "photo composition", "the golden hour", "image stabilization"],
        "activities": ["take better photos with a phone", "shoot portraits outdoors", "photograph the night sky",
                       "edit photos quickly", "take sharp pictures of pets", "photograph food for a blog",
                       "organize a photo library", "choose a first camera"],
        "goals": ["take sharper pictures", "tell a story with an image", "use light well",
                  "develop a personal style"],
        "mistakes": ["centering everything", "ignoring the background", "shooting in harsh midday light",
                     "over editing"],
        "benefits": ["stronger images", "more control", "better memories", "a clearer style"],
        "picture": ["a window that lets in light", "a frame around a moment", "a painter's brush made of light"],
    },
}

AUDIENCES = ["", " in simple terms", " for a beginner", " for a high school student", " in a few sentences",
             " as if I were ten years old", " with a practical example", " for a busy parent",
             " for someone with no background", " in plain language"]

PREFIXES = ["", "", "", "", "I'm new to {field}. ", "I've been reading about {field} lately. ",
            "Quick question. ", "My friend asked me this and I was not sure. ", "I have a test next week. ",
            "I want to get better at {field}. "]

NAMES = ["Maria", "James", "Aisha", "Liam", "Sofia", "Noah", "Chen", "Emma", "Omar", "Lucas", "Priya", "Hannah",
         "Mateo", "Yuki", "Grace", "Daniel", "Fatima", "Oliver", "Zara", "Ethan", "Nina", "Samuel", "Leila", "Jack"]

ITEMS = ["apples", "pencils", "stickers", "marbles", "books", "cookies", "stamps", "shells", "cards", "cupcakes",
         "flowers", "coins", "balloons", "toy cars", "oranges", "notebooks", "seeds", "candles", "buttons", "eggs"]

CHARACTERS = ["a shy baker", "an old lighthouse keeper", "a curious robot", "a young astronaut", "a lonely dragon",
              "a clever fox", "a retired teacher", "a street musician", "a tiny mouse", "a brave librarian",
              "a lost puppy", "a grumpy wizard", "a kind farmer", "a nervous pilot", "a talented painter",
              "a forgetful inventor"]

EVENTS = ["finds a map hidden in an old book", "wakes up able to talk to birds", "enters a baking contest",
          "gets lost in a big city", "discovers a secret door", "makes a new friend in the rain",
          "has to fix a broken clock before midnight", "plants a seed that grows overnight",
          "wins a ticket to the moon", "learns to dance for a festival", "helps a stranger find home",
          "loses a lucky coin"]

SETTINGS = ["in a quiet village", "on a windy island", "in a busy city", "at the edge of a forest",
            "in a small mountain town", "on an old ship", "in a snowy valley", "near a sleepy harbor"]

POEM_SUBJECTS = ["the ocean at night", "autumn leaves", "a rainy morning", "the first snow", "a city at dawn",
                 "an old friendship", "a summer storm", "the moon", "a quiet library", "a mountain trail",
                 "a cup of coffee", "spring flowers", "a train journey", "the stars", "a lost letter",
                 "a childhood home", "the wind", "a busy market"]

POEM_MOODS = ["", " that feels hopeful", " with a calm mood", " that is a little sad", " that is playful",
              " in four lines", " that rhymes"]

PRODUCTS = ["blender", "backpack", "phone case", "coffee maker", "desk lamp", "pair of headphones", "water bottle",
            "office chair", "rain jacket", "toaster", "keyboard", "tent", "vacuum cleaner", "novel", "board game"]

REVIEW_PARTS = {
    "positive": ["works perfectly and was easy to set up", "is sturdy and looks great", "exceeded my expectations",
                 "is worth every penny", "arrived early and works like a charm"],
    "negative": ["broke after two days", "is much smaller than the photos suggest", "stopped working within a week",
                 "feels cheap and rattles", "was a complete waste of money"],
    "neutral": ["does what it says but nothing more", "is fine for the price", "is okay, not great and not bad",
                "works as expected with a few quirks", "is average in most ways"],
}

REWRITES = [
    ("hey, can you send me the {doc} by {day}?", "Could you please send me the {doc} by {day}?"),
    ("we gotta talk about the {doc} soon", "We need to discuss the {doc} soon."),
    ("sorry i missed the meeting, my {thing} broke", "I apologize for missing the meeting; my {thing} broke."),
    ("the {doc} is kinda late, my bad", "The {doc} is slightly delayed, and I take responsibility for that."),
    ("thanks a ton for fixing the {thing}", "Thank you very much for repairing the {thing}."),
    ("can't make it {day}, can we move it?", "I am unable to attend on {day}. Could we reschedule?"),
    ("pls check the {doc} and tell me what u think", "Please review the {doc} and share your feedback."),
    ("the {thing} is busted again, somebody fix it", "The {thing} is broken again. Could someone repair it?"),
]
DOCS = ["report", "budget", "slides", "proposal", "invoice", "schedule", "contract", "summary", "draft", "plan"]
THINGS = ["printer", "laptop", "car", "heater", "bike", "phone", "router", "projector", "door lock", "oven"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "tomorrow", "next week", "the weekend"]
STYLES = ["more formal", "more polite", "more professional", "clearer", "suitable for a work email"]

EMAIL_TO = [("my landlord", "the landlord"), ("my manager", "my manager"), ("a neighbor", "my neighbor"),
            ("my teacher", "my teacher"), ("a client", "our client"), ("my team", "the team"),
            ("a hotel", "the hotel staff"), ("a local library", "the library staff")]
EMAIL_ABOUT = ["asking to fix the {thing}", "asking for a day off on {day}", "about a noisy party",
               "asking for feedback on my {doc}", "about a delayed {doc}", "to thank them for their help",
               "asking to move our meeting to {day}", "about a lost {thing}"]

# --------------------------------------------------------------------------- bad-item pools

REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I'm sorry, but I cannot assist with that request.",
    "I apologize, but I am not able to help with this request.",
    "As an AI language model, I don't have personal experiences, so I can't answer that.",
    "As an AI language model, I cannot provide advice on {topic}. Please consult a qualified professional "
    "who can look at your situation and give you guidance that fits your needs.",
    "I'm sorry, but as an AI, I do not have the ability to {task}. I am only a language model and my "
    "knowledge is limited, so I recommend that you ask an expert instead.",
    "As an AI developed to be helpful, I must decline to discuss {topic}. I hope you understand, and please "
    "let me know if there is anything else I can do for you today.",
]

FOREIGN: dict[str, dict[str, list[str]]] = {
    "es": {
        "topics": ["la fotosíntesis", "el interés compuesto", "la gravedad", "el reciclaje", "la música clásica",
                   "la historia de Roma", "el ejercicio diario", "la energía solar", "la cocina española",
                   "el aprendizaje de idiomas"],
        "instructions": ["Explica {t} en palabras sencillas.", "¿Qué es {t} y por qué es importante?",
                         "Dame tres consejos sobre {t}.", "Escribe un párrafo corto sobre {t}.",
                         "¿Cómo puedo aprender más sobre {t}?"],
        "sentences": ["{T} es un tema muy interesante para muchas personas.",
                      "En pocas palabras, {t} nos ayuda a entender el mundo que nos rodea.",
                      "Es importante estudiar {t} con paciencia y curiosidad.",
                      "Muchos expertos dicen que {t} tiene un gran impacto en la vida diaria.",
                      "Para empezar, puedes leer un libro sencillo o ver un video corto.",
                      "Con práctica constante, cualquier persona puede aprender mucho sobre este tema."],
    },
    "fr": {
        "topics": ["la photosynthèse", "les intérêts composés", "la gravité", "le recyclage", "la musique classique",
                   "l'histoire de Rome", "le sport quotidien", "l'énergie solaire", "la cuisine française",
                   "l'apprentissage des langues"],
        "instructions": ["Explique {t} avec des mots simples.", "Qu'est-ce que {t} et pourquoi est-ce important ?",
                         "Donne-moi trois conseils sur {t}.", "Écris un court paragraphe sur {t}.",
                         "Comment puis-je en apprendre davantage sur {t} ?"],
        "sentences": ["{T} est un sujet très intéressant pour beaucoup de gens.",
                      "En quelques mots, {t} nous aide à comprendre le monde qui nous entoure.",
                      "Il est important d'étudier {t} avec patience et curiosité.",
                      "Beaucoup d'experts disent que {t} a un grand impact sur la vie quotidienne.",
                      "Pour commencer, tu peux lire un livre simple ou regarder une courte vidéo.",
                      "Avec une pratique régulière, tout le monde peut apprendre beaucoup sur ce sujet."],
    },
    "de": {
        "topics": ["die Photosynthese", "der Zinseszins", "die Schwerkraft", "das Recycling", "die klassische Musik",
                   "die Geschichte Roms", "der tägliche Sport", "die Solarenergie", "die deutsche Küche",
                   "das Sprachenlernen"],
        "instructions": ["Erkläre {t} in einfachen Worten.", "Was ist {t} und warum ist es wichtig?",
                         "Gib mir drei Tipps zu {t}.", "Schreibe einen kurzen Absatz über {t}.",
                         "Wie kann ich mehr über {t} lernen?"],
        "sentences": ["{T} ist ein sehr interessantes Thema für viele Menschen.",
                      "Kurz gesagt hilft uns {t}, die Welt um uns herum zu verstehen.",
                      "Es ist wichtig, {t} mit Geduld und Neugier zu lernen.",
                      "Viele Fachleute sagen, dass {t} einen großen Einfluss auf den Alltag hat.",
                      "Zum Einstieg kannst du ein einfaches Buch lesen oder ein kurzes Video ansehen.",
                      "Mit regelmäßiger Übung kann jeder viel über dieses Thema lernen."],
    },
}

COLON_LEADS = [
    ("Summarize the following text:", "Sure, I can summarize it. Please paste the text you would like me to "
     "summarize, and I will give you a short and clear summary of its main points."),
    ("Translate this sentence into French:", "I would be happy to translate it. Please share the sentence you "
     "want translated, and I will give you a natural French version of it."),
    ("Here is my question about {field}:", "It looks like your question did not come through. Please send it "
     "again, and I will do my best to give you a helpful answer about {field}."),
    ("Explain the following concept:", "Of course. Please tell me which concept you would like explained, and "
     "I will describe it in simple terms with a short example."),
    ("Fix the grammar in this paragraph:", "Sure. Please paste the paragraph, and I will correct the grammar and "
     "point out the main changes so you can learn from them."),
    ("Answer the following question about {topic}:", "Happy to help with {topic}. The question itself seems to be "
     "missing, so please send it and I will answer it clearly."),
    ("Please classify these items:", "Certainly. Please list the items you want classified and the categories "
     "you have in mind, and I will sort them for you."),
    ("I need help with the task below:", "I would like to help, but the task did not come through. Please share "
     "the details and I will walk you through it step by step."),
]

NEAR_DUP_EDITS = [("prefix", "Please "), ("suffix", " Thanks!"), ("prefix", "Hi! "), ("suffix", " Thank you.")]

# An aligned model asked for "any instruction" returns to a few favourite ones again and again (Magpie's
# raw sets are full of repeats). The toy generator learns this from a handful of stock questions that
# make up ``BAD_KIND_RATES["popular"]`` of its corpus, asked verbatim or with a small edit.
POPULAR_STOCK = 6

# Share of each deliberately planted kind; the rest is clean.
BAD_KIND_RATES = {
    "refusal": 0.06,
    "non_english": 0.06,
    "repetitive": 0.06,
    "too_short": 0.06,
    "too_long": 0.06,
    "colon_lead_in": 0.06,
    "duplicate": 0.06,
    "near_duplicate": 0.06,
    "popular": 0.08,
}
KINDS = ("clean", *BAD_KIND_RATES)

RESPONSE_MIN_WORDS, RESPONSE_MAX_WORDS = 30, 110
NOVELTY_JACCARD = 0.7  # clean instructions stay below this word-Jaccard from each other
NOVELTY_RETRIES = 30
_WORD = re.compile(r"[\w']+")
LONG_MIN_WORDS, LONG_MAX_WORDS = 150, 220


# --------------------------------------------------------------------------- helpers


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


def word_count(text: str) -> int:
    """Whitespace-separated words."""
    return len(text.split())


class _Topic:
    """A domain plus one concept and one activity drawn from it."""

    def __init__(self, rng: random.Random):
        self.domain_name = rng.choice(sorted(DOMAINS))
        d = DOMAINS[self.domain_name]
        self.d = d
        self.field = d["field"]
        self.people = d["people"]
        self.concept = rng.choice(d["concepts"])
        self.activity = rng.choice(d["activities"])
        self.rng = rng

    def pick(self, key: str) -> str:
        return self.rng.choice(self.d[key])


def _fill_to_length(rng: random.Random, opening: list[str], pool: list[str], closing: list[str],
                    low: int = RESPONSE_MIN_WORDS, high: int = RESPONSE_MAX_WORDS) -> str:
    """Opening sentences, then shuffled pool sentences until a target length, then closing ones."""
    target = rng.randint(low + 5, high - 15)
    body = list(opening)
    extra = list(pool)
    rng.shuffle(extra)
    fixed = sum(word_count(s) for s in body + closing)
    for sentence in extra:
        if fixed >= target:
            break
        if fixed + word_count(sentence) > high - sum(word_count(s) for s in closing):
            continue
        body.append(sentence)
        fixed += word_count(sentence)
    return " ".join(body + closing)


def _generic_pool(t: _Topic, subject: str) -> list[str]:
    """Domain sentences about ``subject`` used to pad responses."""
    return [
        f"Many {t.people} find that {subject} helps them {t.pick('goals')}.",
        f"A common mistake is {t.pick('mistakes')}, so take it slowly at first.",
        f"The main benefit is {t.pick('benefits')}.",
        f"It can help to picture {subject} as {t.pick('picture')}.",
        f"Over time, {subject} also leads to {t.pick('benefits')}.",
        f"Try to avoid {t.pick('mistakes')}, because it undoes a lot of good work.",
        f"If you keep practicing, {subject} will soon feel natural.",
        f"In {t.field}, small and steady steps usually beat big sudden changes.",
    ]


# --------------------------------------------------------------------------- task types


def _explain(rng: random.Random) -> tuple[str, str]:
    t = _Topic(rng)
    c = t.concept
    phrasing = rng.choice(["Explain {c}{a}.", "What is {c}{a}?", "Can you describe how {c} works{a}?",
                           "Help me understand {c}{a}.", "Why does {c} matter in {f}? Please answer{a}.",
                           "Tell me about {c}{a}.", "Give me an overview of {c}{a}.",
                           "What should I know about {c}{a}?"])
    instruction = rng.choice(PREFIXES).format(field=t.field) + phrasing.format(c=c, a=rng.choice(AUDIENCES), f=t.field)
    opening = [f"{_cap(c)} is an important idea in {t.field}.",
               f"In simple terms, {c} is about how {t.people} {t.pick('goals')}."]
    closing = [f"In short, understanding {c} makes {t.field} much easier."]
    return instruction, _fill_to_length(rng, opening, _generic_pool(t, c), closing)


def _howto(rng: random.Random) -> tuple[str, str]:
    t = _Topic(rng)
    a = t.activity
    phrasing = rng.choice(["How do I {a}?", "What are the steps to {a}?", "Give me step by step instructions to {a}.",
                           "How can I {a}{aud}?", "What is the best way to {a}?", "Teach me how to {a}{aud}.",
                           "I want to {a}. Where should I start?"])
    instruction = rng.choice(PREFIXES).format(field=t.field) + phrasing.format(a=a, aud=rng.choice(AUDIENCES))
    steps = [f"First, decide what you need and set a small goal so you can {a} without stress.",
             f"Second, gather what you need and learn from other {t.people}.",
             f"Third, start slowly and avoid {t.pick('mistakes')}.",
             "Finally, check your results and adjust what did not work."]
    opening = [f"Here is a simple way to {a}."] + steps[: rng.randint(3, 4)]
    closing = [f"With a little patience you will be able to {a} with confidence."]
    return instruction, _fill_to_length(rng, opening, _generic_pool(t, "this routine")[:4], closing)


def _tips(rng: random.Random) -> tuple[str, str]:
    t = _Topic(rng)
    n = rng.choice([3, 4, 5])
    subject = rng.choice([t.activity, t.concept])
    if subject == t.activity:
        phrasing = rng.choice(["List {n} tips to {s}.", "Give me {n} tips on how to {s}.",
                               "What are {n} practical ways to {s}?", "Share {n} quick tips to help me {s}."])
    else:
        phrasing = rng.choice(["List {n} tips for getting started with {s}.", "Give me {n} tips about {s}.",
                               "What are {n} things every beginner should know about {s}?"])
    instruction = rng.choice(PREFIXES).format(field=t.field) + phrasing.format(n=n, s=subject)
    tips = [f"Start small and be consistent, because {t.pick('benefits')} comes from steady effort.",
            f"Avoid {t.pick('mistakes')}.",
            f"Learn from experienced {t.people} and ask questions.",
            f"Keep notes so you can see what helps you {t.pick('goals')}.",
            "Review your progress every week and adjust your plan.",
            "Be patient with yourself and celebrate small wins."]
    rng.shuffle(tips)
    lines = [f"Here are {n} tips for {subject if subject == t.concept else 'how to ' + subject}:"]
    lines += [f"{i}. {tip}" for i, tip in enumerate(tips[:n], start=1)]
    lines.append(f"Following these tips will make {t.field} more rewarding.")
    return instruction, "\n".join(lines)


def _compare(rng: random.Random) -> tuple[str, str]:
    t = _Topic(rng)
    a, b = rng.sample(t.d["concepts"], 2)
    phrasing = rng.choice(["Compare {a} and {b}{aud}.", "What is the difference between {a} and {b}?",
                           "How are {a} and {b} different{aud}?", "Which matters more, {a} or {b}?",
                           "Explain the similarities and differences between {a} and {b}."])
    instruction = rng.choice(PREFIXES).format(field=t.field) + phrasing.format(a=a, b=b, aud=rng.choice(AUDIENCES))
    b1, b2 = rng.sample(t.d["benefits"], 2)
    opening = [f"{_cap(a)} and {b} are both part of {t.field}, but they serve different purposes.",
               f"{_cap(a)} is mostly useful when you want {b1}, while {b} helps more with {b2}.",
               f"Many {t.people} use {a} first and add {b} later."]
    closing = [f"In the end, {a} and {b} work best together rather than as rivals."]
    return instruction, _fill_to_length(rng, opening, _generic_pool(t, "either one")[:5], closing)


def _poem(rng: random.Random) -> tuple[str, str]:
    subject = rng.choice(POEM_SUBJECTS)
    form = rng.choice(["poem", "short poem", "little poem", "verse"])
    instruction = rng.choice(["Write a {f} about {s}{m}.", "Can you write a {f} about {s}{m}?",
                              "Compose a {f} about {s}{m}."]).format(f=form, s=subject, m=rng.choice(POEM_MOODS))
    lines = [f"{_cap(subject)} is calling softly,", "a quiet voice that no one hears,",
             "it carries light across the water,", "and gently washes away our fears.",
             f"I walk beside {subject} slowly,", "the world grows still and warm and wide,",
             "and every worry fades to silence,", "with only wonder at my side."]
    start = rng.choice([0, 4])
    body = lines[start:start + 4] + rng.sample(lines, rng.randint(0, 4))
    return instruction, "\n".join(body + [f"Oh {subject}, stay with me tonight."])


def _story(rng: random.Random) -> tuple[str, str]:
    character, event, setting = rng.choice(CHARACTERS), rng.choice(EVENTS), rng.choice(SETTINGS)
    instruction = rng.choice(["Write a short story about {c} who {e}.", "Tell me a short story about {c} who {e}.",
                              "Write a bedtime story about {c} who {e} {s}."]).format(c=character, e=event, s=setting)
    opening = [f"Once upon a time, {character} lived {setting}.",
               f"One day, {character} {event}."]
    pool = ["At first it felt strange and a little frightening.", "A kind neighbor offered to help.",
            "The whole town soon heard the news.", "There were many small problems along the way.",
            "Step by step, courage grew stronger than fear.", "By evening, the sky was full of golden light.",
            "Nobody had expected such a surprising turn."]
    closing = [f"In the end, {character} learned that every adventure starts with a single brave step."]
    return instruction, _fill_to_length(rng, opening, pool, closing, low=40, high=100)


def _summarize(rng: random.Random) -> tuple[str, str]:
    t = _Topic(rng)
    c = t.concept
    goal, mistake = t.pick("goals"), t.pick("mistakes")
    passage = f"{_cap(c)} helps {t.people} {goal}. Experts warn against {mistake}."
    instruction = rng.choice(["Summarize this text in one sentence: \"{p}\"", "Summarize the main idea of this "
                              "passage: \"{p}\"", "Give me a short summary of this: \"{p}\""]).format(p=passage)
    response = (f"The text says that {c} is useful in {t.field} because it helps {t.people} "
                f"{goal}, and it also warns against common errors such as {mistake}. "
                f"In short, {c} is worth learning carefully.")
    return instruction, response


def _classify(rng: random.Random) -> tuple[str, str]:
    label = rng.choice(sorted(REVIEW_PARTS))
    product = rng.choice(PRODUCTS)
    review = f"This {product} {rng.choice(REVIEW_PARTS[label])}."
    instruction = rng.choice(["Classify the sentiment of this review as positive, negative, or neutral. \"{r}\"",
                              "Is this review positive, negative, or neutral? \"{r}\"",
                              "What is the sentiment of the following review? \"{r}\""]).format(r=review)
    reason = {"positive": "praises the product and sounds satisfied",
              "negative": "complains about the product and sounds disappointed",
              "neutral": "describes the product without strong praise or complaint"}[label]
    response = (f"The sentiment of this review is {label}. The reviewer {reason}. "
                f"The words used about the {product} show how the writer feels, so a reader would "
                f"understand the review as {label} overall.")
    return instruction, response


def _example(rng: random.Random) -> tuple[str, str]:
    t = _Topic(rng)
    c = t.concept
    instruction = rng.choice(["Give me an example of {c} in everyday life.", "What is a good example of {c}?",
                              "Can you show me a real world example of {c}{a}?",
                              "Illustrate {c} with a simple example."]).format(c=c, a=rng.choice(AUDIENCES))
    opening = [f"A simple example of {c} comes from everyday {t.field}.",
               f"Imagine one of the {t.people} who wants to {t.pick('goals')}.",
               f"By relying on {c}, they avoid {t.pick('mistakes')} and get {t.pick('benefits')}."]
    closing = [f"This shows how {c} works in practice."]
    return instruction, _fill_to_length(rng, opening, _generic_pool(t, c)[:4], closing)


def _math(rng: random.Random) -> tuple[str, str]:
    name, item = rng.choice(NAMES), rng.choice(ITEMS)
    a, b = rng.randint(3, 60), rng.randint(2, 30)
    op = rng.choice(["add", "sub", "mul", "div"])
    if op == "add":
        q = f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?"
        r = (f"{name} starts with {a} {item}. Getting {b} more means we add them: {a} + {b} = {a + b}. "
             f"So {name} now has {a + b} {item}.")
    elif op == "sub":
        a = a + b
        q = f"{name} had {a} {item} and gave {b} away. How many {item} are left?"
        r = (f"{name} began with {a} {item} and gave away {b}. We subtract: {a} - {b} = {a - b}. "
             f"So {name} has {a - b} {item} left.")
    elif op == "mul":
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        q = f"{name} buys {a} boxes with {b} {item} in each box. How many {item} is that in total?"
        r = (f"There are {a} boxes and each box holds {b} {item}. We multiply: {a} x {b} = {a * b}. "
             f"So {name} has {a * b} {item} in total.")
    else:
        k, per = rng.randint(2, 8), rng.randint(2, 12)
        a = k * per
        q = f"{name} shares {a} {item} equally among {k} friends. How many {item} does each friend get?"
        r = (f"{name} has {a} {item} to share among {k} friends. We divide: {a} / {k} = {per}. "
             f"So each friend gets {per} {item}.")
    return q, r + " The answer is easy to check by working backwards from the result."


def _rewrite(rng: random.Random) -> tuple[str, str]:
    casual, formal = rng.choice(REWRITES)
    slots = {"doc": rng.choice(DOCS), "thing": rng.choice(THINGS), "day": rng.choice(DAYS)}
    casual, formal = casual.format(**slots), formal.format(**slots)
    style = rng.choice(STYLES)
    instruction = rng.choice(["Rewrite this sentence to sound {s}. \"{c}\"", "Make this message {s}. \"{c}\"",
                              "Can you rephrase this so it is {s}? \"{c}\""]).format(s=style, c=casual)
    response = (f"Here is a version that is {style}: \"{formal}\" "
                "I replaced the casual words with complete, polite phrasing, fixed the capitalization and "
                "punctuation, and kept the original meaning so the message stays clear.")
    return instruction, response


def _email(rng: random.Random) -> tuple[str, str]:
    (to, to_name), about = rng.choice(EMAIL_TO), rng.choice(EMAIL_ABOUT)
    about = about.format(thing=rng.choice(THINGS), day=rng.choice(DAYS), doc=rng.choice(DOCS))
    instruction = rng.choice(["Write a short email to {t} {a}.", "Draft a polite email to {t} {a}.",
                              "Help me write a brief email to {t} {a}."]).format(t=to, a=about)
    response = (f"Subject: A quick note\n\nHello,\n\nI am writing to you {about}. "
                "I would really appreciate your help with this, and I am happy to talk about it whenever it "
                "suits you. Please let me know if you need any more details from me.\n\n"
                f"Thank you for your time.\n\nBest regards,\nAlex\n\n(This email is addressed to {to_name}.)")
    return instruction, response


TASKS = {
    "explain": _explain, "howto": _howto, "tips": _tips, "compare": _compare, "poem": _poem, "story": _story,
    "summarize": _summarize, "classify": _classify, "example": _example, "math": _math, "rewrite": _rewrite,
    "email": _email,
}
TASK_WEIGHTS = {"explain": 4, "howto": 4, "tips": 3, "compare": 3, "poem": 2, "story": 2, "summarize": 2,
                "classify": 2, "example": 2, "math": 2, "rewrite": 2, "email": 2}


def clean_pair(rng: random.Random) -> tuple[str, str, str]:
    """One good ``(task, instruction, response)``."""
    task = rng.choices(sorted(TASKS), weights=[TASK_WEIGHTS[k] for k in sorted(TASKS)])[0]
    instruction, response = TASKS[task](rng)
    return task, instruction, response


# --------------------------------------------------------------------------- flawed answers


def refusal(rng: random.Random, instruction: str) -> str:
    """A refusal or AI-identity boilerplate answer."""
    words = [w.strip(".,?!\"") for w in instruction.split()]
    topic = " ".join(words[-3:]).lower()
    return rng.choice(REFUSALS).format(topic=topic or "this topic", task="do that")


def repetitive(rng: random.Random, response: str) -> str:
    """An answer that falls into a loop: an opening (none, some words or the whole answer), then a short
    phrase repeated over and over."""
    words = response.split()
    opening = " ".join(words[: rng.choice([0, rng.randint(3, 40), len(words)])])
    start = rng.randrange(max(1, min(len(words) - 7, 30)))
    loop = " ".join(words[start:start + rng.randint(2, 7)]).rstrip(".,:")
    separator = rng.choice([". ", ", ", " "])
    repeats = separator.join([loop] * rng.randint(8, 16))
    return f"{opening} {repeats}".strip().rstrip(",") + rng.choice([".", ""])


def too_short(rng: random.Random, response: str) -> str:
    """A curt answer under 20 words."""
    first = response.split("\n")[0].split(". ")[0].rstrip(".:").split()
    return " ".join(first[: rng.randint(3, 12)]).rstrip(",") + "."


def truncated(rng: random.Random, response: str) -> str:
    """The answer cut off mid-sentence."""
    words = response.split()
    cut = max(4, int(len(words) * rng.uniform(0.2, 0.5)))
    return " ".join(words[:cut]).rstrip(".,:;!?")


def foreign(rng: random.Random) -> tuple[str, str, str]:
    """A non-English ``(lang, instruction, response)``."""
    lang = rng.choice(sorted(FOREIGN))
    pool = FOREIGN[lang]
    topic = rng.choice(pool["topics"])
    instruction = rng.choice(pool["instructions"]).format(t=topic)
    sentences = [s.format(t=topic, T=_cap(topic)) for s in pool["sentences"]]
    picked = sentences[:1] + rng.sample(sentences[1:], rng.randint(3, 5))
    return lang, instruction, " ".join(picked)


def too_long(rng: random.Random, response: str) -> str:
    """An answer padded to 150-220 words with more sentences of the same kind."""
    t = _Topic(rng)
    target = rng.randint(LONG_MIN_WORDS, LONG_MAX_WORDS)
    parts = [response]
    while word_count(" ".join(parts)) < target:
        parts.append(rng.choice(_generic_pool(t, "this") + [
            "It is also worth repeating the earlier points in a different order.",
            "Some people prefer to read everything twice before acting on it.",
            "Of course, every situation is a little different, so adapt as needed.",
            "Let me add some more background before closing.",
        ]))
    words = " ".join(parts).split()[:LONG_MAX_WORDS]
    text = " ".join(words)
    return text if text.endswith(".") else text.rstrip(",;:") + "."


def _near_duplicate(rng: random.Random, instruction: str) -> str:
    where, text = rng.choice(NEAR_DUP_EDITS)
    return text + instruction if where == "prefix" else instruction + text


# --------------------------------------------------------------------------- the corpus


def popular_pairs(seed: int) -> list[tuple[str, str, str]]:
    """The stock ``(task, instruction, response)`` triples a corpus of ``seed`` keeps coming back to:
    complete questions of at least 5 words (no lead-in colon)."""
    rng = random.Random(f"sit-toy-popular-{seed}")
    stock: list[tuple[str, str, str]] = []
    while len(stock) < POPULAR_STOCK:
        task, instruction, response = clean_pair(rng)
        if word_count(instruction) >= 5 and not instruction.endswith(":") and instruction not in {s[1] for s in stock}:
            stock.append((task, instruction, response))
    return stock


def _bad_item(kind: str, rng: random.Random, earlier: list[dict],
              popular: list[tuple[str, str, str]] = ()) -> dict | None:
    """One deliberately planted item of ``kind`` (None when it needs an earlier clean item that is missing)."""
    if kind == "popular" and popular:
        task, instruction, response = rng.choice(popular)
        if rng.random() < 0.5:
            instruction = _near_duplicate(rng, instruction)
        return {"instruction": instruction, "response": response, "kind": kind, "task": task}
    if kind in ("duplicate", "near_duplicate"):
        clean = [e for e in earlier if e["kind"] == "clean" and word_count(e["instruction"]) >= 5]
        if not clean:
            return None
        src = rng.choice(clean)
        instruction = src["instruction"] if kind == "duplicate" else _near_duplicate(rng, src["instruction"])
        return {"instruction": instruction, "response": src["response"], "kind": kind, "task": src["task"]}
    if kind == "non_english":
        _, instruction, response = foreign(rng)
        return {"instruction": instruction, "response": response, "kind": kind, "task": "foreign"}
    if kind == "colon_lead_in":
        t = _Topic(rng)
        lead, answer = rng.choice(COLON_LEADS)
        return {"instruction": lead.format(field=t.field, topic=t.concept),
                "response": answer.format(field=t.field, topic=t.concept), "kind": kind, "task": "lead_in"}
    task, instruction, response = clean_pair(rng)
    response = {"refusal": lambda: refusal(rng, instruction), "repetitive": lambda: repetitive(rng, response),
                "too_short": lambda: too_short(rng, response), "too_long": lambda: too_long(rng, response)}[kind]()
    return {"instruction": instruction, "response": response, "kind": kind, "task": task}


def word_set(text: str) -> frozenset[str]:
    """Lower-cased word set, as used for word-level Jaccard similarity."""
    return frozenset(_WORD.findall(text.lower()))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Word-level Jaccard similarity of two word sets."""
    return len(a & b) / len(a | b) if a or b else 1.0


class _NoveltyIndex:
    """Remembers clean instructions per task and rejects a new one too similar to any of them."""

    def __init__(self, threshold: float = NOVELTY_JACCARD):
        self.threshold = threshold
        self.by_task: dict[str, list[frozenset[str]]] = {}

    def admit(self, task: str, instruction: str) -> bool:
        words = word_set(instruction)
        seen = self.by_task.setdefault(task, [])
        if any(jaccard(words, other) >= self.threshold for other in seen):
            return False
        seen.append(words)
        return True


def _novel_clean_item(rng: random.Random, index: _NoveltyIndex) -> dict:
    """A clean item whose instruction is not a near duplicate of an earlier clean one (best effort)."""
    for _ in range(NOVELTY_RETRIES):
        task, instruction, response = clean_pair(rng)
        if index.admit(task, instruction):
            break
    return {"instruction": instruction, "response": response, "kind": "clean", "task": task}


def make_corpus(seed: int = 0, n: int = 1000) -> list[dict]:
    """``n`` items ``{"instruction", "response", "kind", "task"}``, deterministic in ``seed``.

    Clean instructions are kept below a word-Jaccard of 0.8 from each other (up to a few retries),
    so near duplicates come from the ``duplicate``/``near_duplicate``/``popular`` kinds."""
    rng = random.Random(f"sit-toy-corpus-{seed}")
    kinds = list(BAD_KIND_RATES)
    weights = [BAD_KIND_RATES[k] for k in kinds] + [1.0 - sum(BAD_KIND_RATES.values())]
    index = _NoveltyIndex()
    popular = popular_pairs(seed)
    items: list[dict] = []
    while len(items) < n:
        kind = rng.choices([*kinds, "clean"], weights=weights)[0]
        item = None if kind == "clean" else _bad_item(kind, rng, items, popular)
        items.append(item or _novel_clean_item(rng, index))
    return items


FLAWS = ("off_topic", "refusal", "repetitive", "truncated", "non_english", "too_short", "word_salad")
# How often each flaw is drawn: an off-topic answer is the hardest to tell apart, so it comes most often.
FLAW_WEIGHTS = {"off_topic": 3, "refusal": 1, "repetitive": 2, "truncated": 1, "non_english": 1, "too_short": 1,
                "word_salad": 2}


def word_salad(rng: random.Random, response: str) -> str:
    """The answer's words in a scrambled order, with a phrase repeated (fluent-looking nonsense)."""
    words = response.split()
    rng.shuffle(words)
    cut = rng.randint(0, max(0, len(words) - 5))
    return " ".join(words + words[cut:cut + 5] * rng.randint(1, 3)).rstrip(".") + "."


def flawed_answer(rng: random.Random, flaw: str, instruction: str, response: str, other_response: str) -> str:
    """A bad answer to ``instruction`` with the given flaw (one of :data:`FLAWS`).

    ``other_response`` is a good answer to a different question (used as the off-topic answer)."""
    makers = {
        "refusal": lambda: refusal(rng, instruction),
        "off_topic": lambda: other_response,
        "repetitive": lambda: repetitive(rng, response),
        "truncated": lambda: truncated(rng, response),
        "non_english": lambda: foreign(rng)[2],
        "too_short": lambda: too_short(rng, response),
        "word_salad": lambda: word_salad(rng, response),
    }
    if flaw not in makers:
        raise ValueError(f"unknown flaw '{flaw}' (known: {', '.join(FLAWS)})")
    return makers[flaw]()


def labeled_triples(seed: int = 0, n: int = 1000) -> Iterator[tuple[str, str, str, str]]:
    """``(question, good, bad, flaw)``: a clean answer and a flawed one to the same question.

    The off-topic answer is the good answer to the previous, unrelated question."""
    rng = random.Random(f"sit-toy-triples-{seed}")
    flaws = list(FLAW_WEIGHTS)
    weights = [FLAW_WEIGHTS[f] for f in flaws]
    previous = clean_pair(rng)[2]
    for _ in range(n):
        _, instruction, response = clean_pair(rng)
        flaw = rng.choices(flaws, weights=weights)[0]
        yield instruction, response, flawed_answer(rng, flaw, instruction, response, previous), flaw
        previous = response


def reward_triples(seed: int = 0, n: int = 1000) -> Iterator[tuple[str, str, str]]:
    """``(question, good, bad)`` triples for pairwise reward-model training."""
    for question, good, bad, _ in labeled_triples(seed, n):
        yield question, good, bad
