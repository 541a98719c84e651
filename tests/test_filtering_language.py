"""The language filter: py3langid with a restricted candidate set, lenient on instructions, strict on
responses, and a fast path for plain English prose.

The labelled texts below were written for these tests: short English instructions (including ones
py3langid or langdetect misjudge over all languages, e.g. "Give me a pasta recipe."), short
instructions in 30 other languages, and paragraph-length responses.
"""

from __future__ import annotations

import pytest

from sit.config import ConfigError
from sit.filtering import filter_config
from sit.filtering.language import LanguageJudge, looks_like_english_prose
from sit.filtering.registry import FILTERS

ENGLISH_INSTRUCTIONS = [
    'Suggest a title for my blog post.',
    'Give me a pasta recipe.',
    'What is the capital of Australia?',
    'Write a haiku about autumn leaves.',
    'Explain quantum entanglement to a ten-year-old.',
    'How do I reverse a linked list in Python?',
    'List five tips for better sleep.',
    'Summarize the plot of Hamlet in three sentences.',
    "Translate 'good morning' into Spanish.",
    'Can you help me plan a trip to Japan?',
    'Name three famous impressionist painters.',
    'Why is the sky blue?',
    'Write a SQL query that returns the top 10 customers by revenue.',
    'Compose a limerick about a cat named Felix.',
    'Debug this JavaScript: console.log(arr.lenght)',
    'I need a cover letter for a barista job.',
    'Tell me a joke.',
    'Describe the water cycle.',
    'Rewrite this sentence in passive voice: The dog chased the ball.',
    'What are the pros and cons of nuclear energy?',
    'Calculate 15% of 240.',
    'Solve for x: 2x + 3 = 11',
    'Recommend some sci-fi novels.',
    'Create a workout plan for beginners.',
    'Is coffee bad for you?',
    'Help me name my bakery.',
    'Draft an email declining a meeting invitation.',
    'Brainstorm gift ideas for my dad.',
    'Generate a product description for noise-cancelling headphones.',
    'Convert 72 degrees Fahrenheit to Celsius.',
    'Outline an essay on climate change.',
    'Pasta carbonara recipe please',
    'Define photosynthesis.',
    'Paraphrase: Veni, vidi, vici.',
    'Plan a birthday party menu.',
    'Fix my resume bullet points.',
    'Ideas for a fantasy novel villain?',
    'Best practices for REST API design',
    'Write a Python function to check if a number is prime.',
    'Give me a motivational quote.',
    'Which is bigger, a blue whale or an elephant?',
    'Proofread my paragraph.',
    'Analyze the symbolism in The Great Gatsby.',
    'Make a grocery list for tacos.',
    'Suggest names for a golden retriever puppy.',
    'Describe Paris in the spring.',
    'Sort these numbers: 5, 3, 9, 1',
    'Edit for clarity: Me and him goes to the store yesterday.',
    'Create a riddle.',
    'Hola is Spanish for what?',
    "What's the difference between a virus and bacteria?",
    'Write a short story about a robot who learns to paint.',
    'How many calories are in a banana?',
    'Give three examples of renewable energy.',
    'Explain recursion with an example.',
    'Who wrote Pride and Prejudice?',
    'Create a lesson plan on fractions for fourth graders.',
    'What does HTTP stand for?',
    'Design a logo concept for a coffee shop.',
    'Compare Python and Java.',
    'Write a thank-you note to my teacher.',
    'Help me understand compound interest.',
    'What time zone is Tokyo in?',
    'Suggest a vegan dinner recipe.',
    'Improve this tagline: Fresh bread daily.',
    'How do vaccines work?',
    'Summarize this article in one paragraph.',
    'Generate ten interview questions for a data analyst.',
    'Explain the rules of chess briefly.',
    'Write a regex that matches email addresses.',
    'What causes inflation?',
    'Roleplay as a tour guide in Rome.',
    'Pick a random number between 1 and 100.',
    'Critique my poem.',
    'Write a tweet announcing our new app.',
    'Cheap weekend getaway ideas near Chicago',
    'Kubernetes vs Docker Swarm',
    'Machine learning project ideas',
    'Dinner party conversation starters',
    'React useEffect cleanup example',
    'Git rebase explained',
    'Photosynthesis summary',
    'Mediterranean diet benefits',
    'Tiramisu recipe',
    'Croissant baking tips',
    'Sushi etiquette in Japan',
    'Explain the French Revolution.',
    "Translate 'Je suis fatigué' into English.",
    "What does 'carpe diem' mean?",
    "Correct the grammar: 'She don't like apples.'",
    'Write a C++ program to print Fibonacci numbers.',
    'Implement quicksort in Rust.',
    'Describe the taste of mango.',
    'Plan a 3-day itinerary for Barcelona.',
    'Best pizza toppings?',
    'Estimate the population of Canada.',
    'Explain blockchain in simple terms.',
    'What is 17 times 23?',
    'Integrate x^2 from 0 to 3.',
    'Differentiate sin(x) * cos(x).',
    'Simplify (3x^2 + 6x) / 3x.',
    'Yoga poses for back pain',
    'Negotiate a higher salary - tips?',
    'Motivate me to study.',
    'Rate my business idea: subscription socks.',
    'Continue the story: Once upon a time, a dragon lived alone.',
    'Name a color that rhymes with orange.',
    'Fun facts about octopuses',
    'Is Pluto a planet?',
    'Write a sonnet about the ocean.',
    'Tips for public speaking',
    "Explain Bayes' theorem.",
    'Make this email more polite: Send me the report now.',
    'Write a cover letter for a software engineering internship at Google.',
    'How can I improve my credit score quickly?',
    'Give me a 5-minute meditation script.',
    'Recommend podcasts about history.',
    'Describe a sunset using vivid imagery.',
    'Generate a list of team-building activities.',
    'Explain how a bill becomes a law in the United States.',
]
OTHER_INSTRUCTIONS = [
    ('fr', 'Donne-moi une recette de pâtes.'),
    ('fr', "Quelle est la capitale de l'Australie ?"),
    ('fr', 'Explique-moi la photosynthèse simplement.'),
    ('es', 'Dame una receta de pasta.'),
    ('es', '¿Cuál es la capital de Australia?'),
    ('es', 'Escribe un poema sobre el mar.'),
    ('es', 'Como puedo aprender a programar en Python'),
    ('de', 'Gib mir ein Rezept für Nudeln.'),
    ('de', 'Was ist die Hauptstadt von Australien?'),
    ('de', 'Schreibe ein Gedicht über den Herbst.'),
    ('it', 'Dammi una ricetta per la pasta.'),
    ('it', "Qual è la capitale dell'Australia?"),
    ('pt', 'Me dê uma receita de macarrão.'),
    ('pt', 'Qual é a capital da Austrália?'),
    ('nl', 'Geef me een recept voor pasta.'),
    ('da', 'Foreslå en titel til mit blogindlæg.'),
    ('sv', 'Skriv en dikt om hösten.'),
    ('pl', 'Napisz wiersz o jesieni.'),
    ('ru', 'Напиши стихотворение об осени.'),
    ('zh', '请给我一个意大利面的食谱。'),
    ('zh', '澳大利亚的首都是哪里？'),
    ('ja', 'パスタのレシピを教えてください。'),
    ('ko', '파스타 레시피를 알려주세요.'),
    ('ar', 'ما هي عاصمة أستراليا؟'),
    ('hi', 'ऑस्ट्रेलिया की राजधानी क्या है?'),
    ('tr', 'Bana bir makarna tarifi ver.'),
    ('vi', 'Hãy cho tôi một công thức làm mì Ý.'),
    ('id', 'Berikan saya resep pasta.'),
    ('es', 'Necesito ayuda con mi tarea de matematicas'),
    ('fr', "Peux-tu m'aider a ecrire une lettre de motivation"),
    ('de', 'Wie funktioniert ein Verbrennungsmotor'),
    ('it', 'Come posso migliorare il mio curriculum'),
    ('ro', 'Dă-mi o rețetă de paste.'),
    ('ro', 'Care este capitala Australiei?'),
    ('la', 'Gallia est omnis divisa in partes tres.'),
    ('no', 'Gi meg en oppskrift på pasta.'),
    ('fi', 'Anna minulle pastaresepti.'),
    ('fi', 'Mikä on Australian pääkaupunki?'),
    ('cs', 'Dej mi recept na těstoviny.'),
    ('hu', 'Adj egy tésztareceptet.'),
    ('tl', 'Bigyan mo ako ng resipe ng pasta.'),
    ('sw', 'Nipe mapishi ya tambi.'),
    ('th', 'ขอสูตรพาสต้าหน่อย'),
    ('uk', 'Дай мені рецепт пасти.'),
    ('el', 'Δώσε μου μια συνταγή για ζυμαρικά.'),
    ('he', 'תן לי מתכון לפסטה.'),
    ('fa', 'یک دستور پخت پاستا به من بده.'),
    ('ms', 'Berikan saya resipi pasta.'),
    ('ca', "Dona'm una recepta de pasta."),
    ('gl', 'Dáme unha receita de pasta.'),
    ('af', "Gee my 'n resep vir pasta."),
    ('es', 'Escribe una historia corta sobre un robot que aprende a pintar.'),
    ('es', '¿Qué es la inflación?'),
    ('es', 'Explica la recursión con un ejemplo.'),
    ('es', 'Receta de tiramisú'),
    ('fr', "Écris un sonnet sur l'océan."),
    ('fr', "Qu'est-ce que l'inflation ?"),
    ('fr', 'Conseils pour parler en public'),
    ('de', 'Erkläre Rekursion mit einem Beispiel.'),
    ('de', 'Was ist Inflation?'),
    ('de', 'Tipps für öffentliches Reden'),
    ('it', "Scrivi un sonetto sull'oceano."),
    ('it', "Che cos'è l'inflazione?"),
    ('pt', 'Explique a recursão com um exemplo.'),
    ('pt', 'O que é inflação?'),
    ('nl', 'Wat is inflatie?'),
    ('nl', 'Schrijf een kort verhaal over een robot.'),
    ('sv', 'Vad är inflation?'),
    ('da', 'Hvad er inflation?'),
    ('pl', 'Co to jest inflacja?'),
    ('tr', 'Enflasyon nedir?'),
    ('id', 'Apa itu inflasi?'),
    ('vi', 'Lạm phát là gì?'),
    ('zh', '什么是通货膨胀？'),
    ('zh', '用Python写一个快速排序'),
    ('ja', 'インフレとは何ですか？'),
    ('ko', '인플레이션이란 무엇입니까?'),
    ('ru', 'Что такое инфляция?'),
    ('ru', 'Объясни рекурсию на примере.'),
    ('ar', 'ما هو التضخم؟'),
    ('hi', 'मुद्रास्फीति क्या है?'),
    ('zh', '写一首关于秋天的诗。'),
    ('ja', '秋についての俳句を書いてください。'),
    ('es', 'Dame ideas para una fiesta de cumpleaños'),
    ('fr', 'Donne-moi des idees pour un anniversaire'),
    ('de', 'Gib mir Ideen fuer eine Geburtstagsfeier'),
    ('pt', 'Me de ideias para uma festa de aniversario'),
    ('it', 'Dammi idee per una festa di compleanno'),
]
ENGLISH_RESPONSES = [
    'Sure! Here is a simple recipe for spaghetti carbonara. You will need spaghetti, eggs, pecorino cheese, guanciale and black pepper. Cook the pasta in salted water until it is al dente, then toss it with the crispy guanciale and the egg mixture off the heat so the sauce stays creamy.',
    'Quantum entanglement is a phenomenon where two particles become linked, so that the state of one instantly tells you something about the state of the other, no matter how far apart they are. Imagine two magic coins that always land on opposite sides.',
    'To reverse a linked list in Python, iterate through the list while keeping track of the previous node. For each node, point its next reference to the previous node, then move forward. When you reach the end, the previous node is the new head of the list.',
    'Here are five tips for better sleep: 1. Keep a consistent schedule. 2. Avoid screens an hour before bed. 3. Limit caffeine after noon. 4. Keep your bedroom cool and dark. 5. Get some sunlight in the morning to reset your internal clock.',
    "The Great Gatsby uses the green light at the end of Daisy's dock as a symbol of Gatsby's hopes and dreams for the future. It also represents the broader American Dream, which the novel suggests is ultimately unattainable and corrupted by materialism.",
    '```python\ndef is_prime(n):\n    if n < 2:\n        return False\n    for i in range(2, int(n ** 0.5) + 1):\n        if n % i == 0:\n            return False\n    return True\n```\nThis function returns True when n has no divisors other than one and itself.',
    'Paris in the spring is a dream: chestnut trees bloom along the boulevards, cafés spill onto the pavements, and the light over the Seine turns soft and golden in the late afternoon.',
    'Dear Hiring Manager, I am excited to apply for the barista position at your café. I have two years of experience preparing espresso drinks and I love creating a warm atmosphere for customers.',
]
OTHER_RESPONSES = [
    ('fr', "Bien sûr ! Voici une recette simple de spaghetti à la carbonara. Il vous faut des spaghetti, des œufs, du pecorino, du guanciale et du poivre noir. Faites cuire les pâtes dans de l'eau salée jusqu'à ce qu'elles soient al dente, puis mélangez-les avec le guanciale croustillant."),
    ('es', '¡Claro! Aquí tienes una receta sencilla de espaguetis a la carbonara. Necesitarás espaguetis, huevos, queso pecorino, guanciale y pimienta negra. Cocina la pasta en agua con sal hasta que esté al dente y luego mézclala con el guanciale crujiente.'),
    ('es', 'Claro, aqui tienes una receta sencilla. Necesitaras espaguetis, huevos, queso y pimienta. Cocina la pasta en agua con sal hasta que este al dente y luego mezclala con la salsa fuera del fuego para que quede cremosa.'),
    ('de', 'Natürlich! Hier ist ein einfaches Rezept für Spaghetti Carbonara. Du brauchst Spaghetti, Eier, Pecorino, Guanciale und schwarzen Pfeffer. Koche die Nudeln in Salzwasser, bis sie al dente sind, und vermische sie dann mit dem knusprigen Guanciale.'),
    ('de', 'Die Quantenverschraenkung ist ein Phaenomen, bei dem zwei Teilchen so miteinander verbunden sind, dass der Zustand des einen sofort etwas ueber den Zustand des anderen verraet, egal wie weit sie voneinander entfernt sind.'),
    ('nl', 'Natuurlijk! Hier is een eenvoudig recept voor spaghetti carbonara. Je hebt spaghetti, eieren, pecorino, guanciale en zwarte peper nodig. Kook de pasta in gezouten water tot hij al dente is en meng hem dan met de knapperige guanciale.'),
    ('da', 'Selvfølgelig! Her er en enkel opskrift på spaghetti carbonara. Du skal bruge spaghetti, æg, pecorino, guanciale og sort peber. Kog pastaen i saltet vand, indtil den er al dente, og bland den derefter med den sprøde guanciale.'),
    ('it', 'Certo! Ecco una ricetta semplice per gli spaghetti alla carbonara. Ti servono spaghetti, uova, pecorino, guanciale e pepe nero. Cuoci la pasta in acqua salata finché è al dente, poi mescolala con il guanciale croccante.'),
    ('pt', 'Claro! Aqui está uma receita simples de espaguete à carbonara. Você vai precisar de espaguete, ovos, queijo pecorino, guanciale e pimenta-do-reino. Cozinhe a massa em água com sal até ficar al dente e depois misture com o guanciale crocante.'),
    ('pl', 'Oczywiście! Oto prosty przepis na spaghetti carbonara. Potrzebujesz makaronu spaghetti, jajek, sera pecorino, guanciale i czarnego pieprzu. To jest bardzo proste danie, które każdy może przygotować w domu.'),
    ('id', 'Tentu! Berikut adalah resep sederhana untuk spageti carbonara. Anda membutuhkan spageti, telur, keju pecorino, guanciale, dan lada hitam. Rebus pasta dalam air asin hingga al dente, lalu campur dengan guanciale yang renyah.'),
    ('tl', 'Siyempre! Narito ang isang simpleng resipe para sa spaghetti carbonara. Kailangan mo ng spaghetti, itlog, keso at paminta. Lutuin ang pasta sa tubig na may asin at pagkatapos ay ihalo ito sa sarsa.'),
    ('zh', '当然！这是一个简单的意大利培根蛋面食谱。你需要意大利面、鸡蛋、佩科里诺奶酪、腌猪脸肉和黑胡椒。把面条放在盐水中煮到有嚼劲，然后和酥脆的猪脸肉混合。'),
    ('zh', '下面是一个判断质数的函数：\n```python\ndef is_prime(n):\n    if n < 2:\n        return False\n    for i in range(2, int(n ** 0.5) + 1):\n        if n % i == 0:\n            return False\n    return True\n```\n这个函数在n没有其他因数时返回True。'),
    ('ru', 'Конечно! Вот простой рецепт спагетти карбонара. Вам понадобятся спагетти, яйца, сыр пекорино, гуанчиале и чёрный перец.'),
    ('sv', 'Självklart! Här är ett enkelt recept på spaghetti carbonara. Du behöver spaghetti, ägg, pecorino, guanciale och svartpeppar. Koka pastan i saltat vatten tills den är al dente.'),
]


@pytest.fixture(scope="module")
def judge() -> LanguageJudge:
    return LanguageJudge()


@pytest.fixture(scope="module")
def model_only() -> LanguageJudge:
    return LanguageJudge(fast_path=False)


def language_verdicts(records: list[dict], **overrides) -> list:
    return FILTERS["language"].func(records, filter_config(overrides=overrides))


def test_every_short_english_instruction_passes_the_instruction_check(judge):
    threshold = filter_config()["instruction_language_min_probability"]
    failing = [t for t in ENGLISH_INSTRUCTIONS if judge.guess(t).probability < threshold]
    assert failing == []


def test_short_instructions_in_other_languages_are_rejected(judge):
    threshold = filter_config()["instruction_language_min_probability"]
    passing = [t for _, t in OTHER_INSTRUCTIONS if judge.guess(t).probability >= threshold]
    # Dutch/German look-alikes of "What is inflation?" are the only misses; their responses catch them.
    assert set(passing) <= {"Wat is inflatie?", "Was ist Inflation?"}


def test_all_candidate_languages_would_reject_short_english(model_only):
    """Why the candidate set is restricted: over all 140 languages, short English loses."""
    everything = LanguageJudge(candidates=None, fast_path=False)
    text = "Give me a pasta recipe."
    assert everything.model_guess(text).top_language != "en"
    assert model_only.model_guess(text).probability > everything.model_guess(text).probability


def test_responses_are_judged_strictly(judge, model_only):
    for text in ENGLISH_RESPONSES:
        assert judge.guess(text).probability == 1.0
        assert model_only.guess(text).probability >= 0.5, text
    for language, text in OTHER_RESPONSES:
        guess = judge.guess(text)
        assert guess.method == "model" and guess.probability < 0.5, (language, text)


def test_fast_path_decides_only_plain_english_prose():
    assert all(looks_like_english_prose(t) for t in ENGLISH_RESPONSES if not t.startswith("```"))
    assert not any(looks_like_english_prose(t) for _, t in OTHER_RESPONSES)
    assert not any(looks_like_english_prose(t) for t in ENGLISH_INSTRUCTIONS)  # too short: the model decides
    spanish_ascii = ("Claro, aqui tienes una receta sencilla para la cena de hoy con pocos ingredientes "
                     "que puedes comprar en cualquier tienda del barrio sin gastar mucho dinero")
    assert not looks_like_english_prose(spanish_ascii)


def test_filter_judges_the_pair_jointly():
    response_nl = ("Inflatie is de stijging van het algemene prijsniveau van goederen en diensten in een "
                   "economie gedurende een bepaalde periode. Als de prijzen stijgen, kun je met hetzelfde "
                   "geld minder kopen.")
    records = [
        {"id": 1, "instruction": "Wat is inflatie?", "response": response_nl},
        {"id": 2, "instruction": "What is inflation?", "response": OTHER_RESPONSES[0][1]},
        {"id": 3, "instruction": "请给我一个意大利面的食谱。", "response": ENGLISH_RESPONSES[0]},
        {"id": 4, "instruction": "Suggest a title for my blog post.", "response": ENGLISH_RESPONSES[1]},
        {"id": 5, "instruction": "Translate 'Je suis fatigué' into English.",
         "response": "'Je suis fatigué' means 'I am tired' in English. The adjective changes to 'fatiguée' "
                     "when the speaker is a woman."},
    ]
    dutch, french, chinese, english, translation = language_verdicts(records)
    assert dutch["field"] == "response" and dutch["language"] == "nl"
    assert french["field"] == "response" and french["language"] == "fr"
    assert chinese["field"] == "instruction" and chinese["language"] == "zh"
    assert english is None and translation is None


def test_language_config_is_validated():
    with pytest.raises(ConfigError, match="must include the target language"):
        filter_config(overrides={"language": "de", "language_candidates": ["en", "fr"]})
    with pytest.raises(ConfigError, match="Unknown language code"):
        filter_config(overrides={"language_candidates": ["en", "xx"]})
    with pytest.raises(ConfigError, match="does not know the language"):
        filter_config(overrides={"language": "klingon", "language_candidates": None})
    with pytest.raises(ConfigError, match="above the maximum"):
        filter_config(overrides={"response_language_min_probability": 1.5})
    # not in the pipeline: the language settings are not loaded
    assert filter_config(overrides={"language_candidates": ["xx"], "pipeline": ["length"]})["pipeline"] == ["length"]


def test_text_without_letters_is_language_neutral(judge):
    assert judge.guess("2 + 2 = ?").probability == 1.0
    assert judge.guess("").method == "no letters"
    assert judge.guess("Ok.").method == "model"


def test_another_target_language_uses_the_model_only():
    german = LanguageJudge(language="de")
    assert german.fast_path is False
    assert german.guess("Wie funktioniert ein Verbrennungsmotor eigentlich genau?").top_language == "de"
    assert german.guess(ENGLISH_RESPONSES[0]).probability < 0.5
