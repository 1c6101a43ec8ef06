#!/usr/bin/env python3
"""Search benchmark for PersonalOS (issue 3): latency, ingest, memory, size.

For each corpus size (default 10k and 100k memories; 1M on request) it
starts a fresh `personalos serve`, loads a deterministic synthetic corpus of
short personal memories (meetings, errands, notes about people, places,
books, food, travel, work and health; seeded PRNG, word lists below) through
POST /api/memories/bulk, and measures:

  * bulk ingest memories/s (time inside the bulk requests);
  * 200 fixed queries (exact words, questions, paraphrases, typos, broad
    words) per search mode: server-side took_ms and client-side latency,
    median and p99, and the share of queries that found anything;
  * the server's RSS (VmRSS, and VmHWM for the peak) after the load and
    after the queries;
  * database bytes per memory: the data directory (du) after a clean
    shutdown (which checkpoints the WAL) divided by the memory count.

Baselines in the same run: (a) SQLite FTS5 alone, a Python sqlite3 FTS5
table over the same corpus (porter unicode61, the same query rule as
bench/locomo: words OR-ed, stop words dropped, bm25), timing the same
queries in-process; (b) float32 brute-force cosine over N random 256-dim
vectors, one thread, from bench/vector_bench.c (`vector_bench scan N`, built
into the work directory; its int8 scan is shown next to it), skipped with a
note when it is absent or does not build. Ratios are printed (server p50 / baseline p50, ...). Nothing is asserted: exit 0 when
the run worked, 3 when the server has no search endpoint (404), 1 when a run
failed.

    python3 bench/search_bench.py [--sizes 10k,100k[,1m]] [--bin PATH]
        [--modes hybrid,keyword,semantic] [--json out.json] [--markdown out.md]

Python 3 standard library only. See docs/BENCHMARKS.md, "Search (issue 3)".
"""

import argparse
import concurrent.futures
import queue
import threading
import datetime
import glob
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "locomo"))
import harness as H  # noqa: E402

CORPUS_SEED = 20261124
QUERY_SEED = 7
BULK_SIZE = 1000
VECTOR_DIM = 256
BUDGET_MINUTES = 25.0        # a size whose estimate exceeds this is skipped
LARGE = 500000               # sizes from here on need an estimate first

# ---- word lists ------------------------------------------------------------------

FIRST = """Aisha Ananya Ben Bianca Carlos Chen Chloe Daniel Dmitri Elena Emeka
Fatima Felix Grace Hana Hiroshi Ines Ivan Jamal Jana Jonas Julia Kai Kemal Lars
Laura Leila Liam Lucia Maya Marco Mateo Mei Nadia Noah Olga Omar Pablo Priya
Rafael Rosa Sam Sara Sofia Tariq Tomas Uma Viktor Yara Yusuf Zoe Amara Anders
Beatriz Bruno Camille Dario Esther Farid Gabriel Greta Hugo Ingrid Isaac Jin
Kenji Lena Luca Magnus Malik Marta Nikos Nora Oskar Paula Quentin Ravi Rhea
Samir Selma Soren Tanvi Theo Valentina Wei Xavier Yasmin Zainab Alma Arjun
Chiara Dev Elif Erik Filip Hamza Ilse Joao Katya Lorenzo Mira Nils Petra Rohan
Sven Tove Ugo Vera""".split()

LAST = """Almeida Andersen Banerjee Becker Bianchi Brennan Castillo Chowdhury
Costa Dubois Eriksson Ferreira Fischer Garcia Haddad Hansen Hoffmann Ibrahim
Ivanova Jensen Kaur Kowalski Kruger Larsen Lindqvist Lopez Mancini Martins
Meyer Moreau Nakamura Nguyen Novak Okafor Olsen Park Petrov Popescu Quinn Rahman
Rossi Santos Schmidt Silva Sato Schneider Takahashi Tanaka Torres Varga Vogel
Wagner Weber Yamamoto Yilmaz Zhang Ziegler Lund Horvat Mendes Navarro Oliveira
Pereira Richter Sorensen Tran Vasquez Wolff""".split()

CITIES = """Lisbon Porto Berlin Hamburg Munich Vienna Prague Krakow Budapest
Copenhagen Oslo Helsinki Stockholm Amsterdam Rotterdam Brussels Lyon Marseille
Barcelona Valencia Seville Madrid Milan Turin Naples Florence Athens Istanbul
Cairo Nairobi Lagos Accra Marrakesh Dubai Mumbai Delhi Bangalore Bangkok Hanoi
Singapore Seoul Tokyo Kyoto Osaka Taipei Manila Sydney Melbourne Auckland
Vancouver Toronto Montreal Boston Chicago Denver Austin Seattle Portland Lima
Bogota Santiago Reykjavik Edinburgh Dublin Manchester Glasgow Zurich Geneva
Ljubljana Zagreb Tallinn Riga Vilnius Bologna Granada Bordeaux Antwerp Utrecht
Gdansk Salzburg""".split()

VENUES = ["the farmers market", "the library", "the climbing gym", "the community garden",
          "the hardware store", "the post office", "the train station", "the airport",
          "the bakery on Elm Street", "the yoga studio", "the bike shop", "the vet",
          "the pharmacy", "the swimming pool", "the coworking space", "the cinema",
          "the town hall", "the kids' school", "the football pitch", "the laundromat",
          "the bookshop on Harbor Road", "the record store", "the tailor", "the garage",
          "the museum", "the concert hall", "the park by the river", "the office",
          "the bank branch", "the tea house", "the night market", "the food hall"]

RESTAURANTS = ["Trattoria %s", "Casa %s", "Cafe %s", "%s Noodle Bar", "Bistro %s",
               "%s Kitchen", "The %s Tavern", "%s Sushi", "Taqueria %s", "%s Dumpling House"]
RESTAURANT_WORDS = """Aurora Lupa Marea Olivo Fuego Sakura Lotus Harbor Juniper Cedar
Saffron Basil Copper Mango Luna Sol Verde Rosa Pepper Fig Ember Maple Nori
Tamarind Orchid""".split()

BOOKS = ["Middlemarch", "The Left Hand of Darkness", "Moby-Dick", "Pride and Prejudice",
         "The Remains of the Day", "Beloved", "Invisible Cities", "The Overstory", "Dune",
         "Piranesi", "Project Hail Mary", "Thinking, Fast and Slow", "Sapiens",
         "The Pragmatic Programmer", "Designing Data-Intensive Applications",
         "Atomic Habits", "Salt, Fat, Acid, Heat", "The Dispossessed", "Station Eleven",
         "A Gentleman in Moscow", "The Name of the Rose", "One Hundred Years of Solitude",
         "Norwegian Wood", "The Master and Margarita", "Klara and the Sun",
         "The Hitchhiker's Guide to the Galaxy", "Educated", "Range", "Deep Work",
         "The Body Keeps the Score", "Braiding Sweetgrass", "Gödel, Escher, Bach",
         "The Three-Body Problem", "Circe", "The Road", "Never Let Me Go", "Ulysses",
         "War and Peace", "Anna Karenina", "Crime and Punishment", "The Little Prince",
         "Frankenstein", "Dracula", "Jane Eyre", "Wuthering Heights", "The Trial",
         "The Stranger", "Siddhartha", "The Alchemist", "Shantaram"]

BOOK_THEMES = ["memory", "grief", "ambition", "friendship", "power", "time", "loneliness",
               "family", "language", "work", "forgiveness", "the sea", "trees", "habits"]

DISHES = [d.replace("-", " ") for d in """ramen pho shakshuka paella risotto
dumplings tacos pad-thai bibimbap falafel sourdough lasagna curry ceviche moussaka
pierogi banana-bread miso-soup goulash gnocchi tagine biryani laksa katsu empanadas
hummus tiramisu pancakes gazpacho borscht udon kimchi-stew dal carbonara pesto-pasta
burritos poke arepas churros""".split()]

INGREDIENTS = """garlic ginger lemon chickpeas spinach feta tahini miso chili
coriander basil tomatoes mushrooms leeks saffron cumin paprika yogurt honey
walnuts""".split()

GROCERIES = ["oat milk", "eggs", "spinach", "lemons", "coffee beans", "rice", "olive oil",
             "tomatoes", "batteries", "dish soap", "toothpaste", "cat food", "bread",
             "butter", "apples", "bananas", "yogurt", "pasta", "onions", "garlic",
             "light bulbs", "bin bags", "sunscreen", "shampoo", "dog treats", "avocados",
             "parmesan", "frozen peas", "tea", "honey", "flour", "printer paper"]

STORES = ["Lidl", "Aldi", "the corner shop", "the supermarket", "IKEA", "the hardware store",
          "the pharmacy", "the farmers market", "the Asian grocery", "the organic shop"]

PROJECTS = """Atlas Falcon Nimbus Orion Quartz Sequoia Helix Beacon Kestrel Juniper
Meridian Polaris Tundra Cobalt Lantern Harbor Mosaic Vertex Aurora Ember""".split()

TOPICS = ["budget", "roadmap", "hiring plan", "quarterly review", "onboarding", "migration",
          "release notes", "security audit", "pricing", "customer churn", "on-call rotation",
          "data pipeline", "API redesign", "performance review", "offsite", "launch plan",
          "vendor contract", "design review", "incident postmortem", "OKRs",
          "accessibility audit", "cloud costs", "user interviews", "sales forecast"]

COMPANIES = ["Northwind", "Brightline Logistics", "Koval Design", "Tessera Health",
             "Bluefin Analytics", "Greenleaf Energy", "Orbital Foods", "Lumen Legal",
             "Parallel Studio", "Redwood Insurance", "Silverline Bank", "Kite Robotics",
             "Marlow & Finch", "Quayside Realty", "Fjord Software", "Helios Solar"]

ROLES = ["product manager", "data scientist", "nurse", "architect", "teacher", "lawyer",
         "designer", "backend engineer", "accountant", "chef", "journalist", "pharmacist",
         "physiotherapist", "sales lead", "researcher", "photographer"]

DOCTORS = [("dentist", "dental"), ("GP", "doctor"), ("dermatologist", "skin"),
           ("physiotherapist", "physio"), ("optician", "eye"), ("cardiologist", "heart"),
           ("pediatrician", "kids'"), ("therapist", "therapy")]
APPT_WORDS = ["appointment", "checkup", "visit", "consultation"]
SYMPTOMS = ["headache", "back pain", "sore throat", "hay fever", "insomnia", "a stiff neck",
            "knee pain", "a cough", "heartburn", "a migraine"]
MEDS = ["ibuprofen", "paracetamol", "an antihistamine", "vitamin D", "magnesium",
        "throat lozenges", "eye drops"]
SPORTS = [("ran", "km", "run"), ("cycled", "km", "ride"), ("swam", "lengths", "swim"),
          ("hiked", "km", "hike"), ("rowed", "km", "row")]
FEELINGS = ["felt strong", "legs were heavy", "great weather", "too hot", "new personal best",
            "knee complained", "easy pace", "windy but fine"]

AIRLINES = [("LH", "Lufthansa"), ("KL", "KLM"), ("TP", "TAP"), ("U2", "easyJet"),
            ("FR", "Ryanair"), ("DL", "Delta"), ("NH", "ANA"), ("TK", "Turkish Airlines"),
            ("BA", "British Airways"), ("AF", "Air France")]
HOTELS = ["Hotel Miramar", "Hotel Astoria", "The Grand Central", "Casa Azul Guesthouse",
          "Hotel Nord", "The Linden", "Harbour Inn", "Pension Sonne", "Hotel Bellevue"]
FILMS = ["Spirited Away", "Paddington 2", "Arrival", "The Grand Budapest Hotel", "Parasite",
         "Past Lives", "Amelie", "Dune Part Two", "Perfect Days", "Columbus"]
FILM_WORDS = ["movie", "film"]
GIFTS = ["a board game", "flowers", "a cookbook", "wine", "a plant", "chocolates",
         "a puzzle", "concert tickets"]
HOBBIES = ["dinosaurs", "chess", "football", "drawing", "swimming", "violin", "robots",
           "horses", "climbing", "baking"]
DOCUMENTS = ["passport", "driving licence", "car insurance", "gym membership",
             "library card", "residence permit", "phone contract", "home insurance"]
BILLS = ["electricity", "water", "internet", "phone", "rent", "council tax", "gas"]
ROOMS = ["room 4B", "the big meeting room", "the kitchen", "Zoom", "the third floor",
         "the cafe downstairs", "room Orion", "Teams"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
OPINIONS = ["best I've had in years", "too salty", "worth going back", "a bit pricey",
            "great with the house wine", "portions were huge", "service was slow",
            "must bring Sam next time"]
IDEAS = ["cache the search results per user", "a weekly digest email", "dark mode",
         "offline sync for the mobile app", "tag suggestions", "a shared family calendar",
         "export to markdown", "a smarter reminder schedule"]
REASONS = ["the vendor delay", "a security review", "missing translations",
           "the database migration", "holidays", "a hiring freeze"]
CHORES = ["move the {p} standup to {wd}", "write up the {t} notes", "ask {n} for feedback",
          "split the {t} work into smaller tasks"]


def pick_time(rng):
    h = rng.randint(7, 20)
    m = rng.choice((0, 0, 15, 30, 45))
    return "%d:%02d %s" % ((h - 1) % 12 + 1, m, "am" if h < 12 else "pm")


def pick_date(rng):
    return "%s %d" % (rng.choice(MONTHS), rng.randint(1, 28))


def person(rng):
    return rng.choice(FIRST)


def full_person(rng):
    return "%s %s" % (rng.choice(FIRST), rng.choice(LAST))


def upper_first(s):
    return s[:1].upper() + s[1:]


def restaurant(rng):
    return rng.choice(RESTAURANTS) % rng.choice(RESTAURANT_WORDS)


# Each template: (type, tags, function rng -> text). Texts are short and
# mix many lists, so any one word is shared by a sliver of the corpus while
# common words ("meeting", "appointment", "buy") are shared by many.
def _t(kind, tags, fn):
    return (kind, tags, fn)


TEMPLATES = [
    _t("event", ["work"], lambda r: "Meeting with %s about the %s %s on %s at %s in %s." % (
        full_person(r), r.choice(PROJECTS), r.choice(TOPICS), r.choice(WEEKDAYS), pick_time(r),
        r.choice(ROOMS))),
    _t("event", ["work"], lambda r: "%s moved the %s %s to %s %s." % (
        person(r), r.choice(PROJECTS), r.choice(TOPICS), r.choice(WEEKDAYS), pick_time(r))),
    _t("event", ["health"], lambda r: "%s %s with Dr. %s on %s at %s; bring the insurance "
       "card." % (upper_first(r.choice(DOCTORS)[0]), r.choice(APPT_WORDS), r.choice(LAST),
                  pick_date(r), pick_time(r))),
    _t("event", ["travel"], lambda r: (lambda a: "Flight %s %d (%s) to %s departs %s at %s, "
                                       "gate %s%d." % (a[0], r.randint(100, 9999), a[1],
                                                       r.choice(CITIES), pick_date(r),
                                                       pick_time(r), r.choice("ABCDE"),
                                                       r.randint(1, 60)))(r.choice(AIRLINES))),
    _t("event", ["food", "people"], lambda r: "Dinner at %s in %s with %s and %s on %s." % (
        restaurant(r), r.choice(CITIES), person(r), person(r), r.choice(WEEKDAYS))),
    _t("event", ["family"], lambda r: "%s's birthday party on %s at %s; bring %s." % (
        person(r), pick_date(r), r.choice(VENUES), r.choice(GIFTS))),
    _t("event", ["leisure"], lambda r: "%s night: %s at the cinema with %s, %s." % (
        r.choice(FILM_WORDS).capitalize(), r.choice(FILMS), person(r), r.choice(WEEKDAYS))),
    _t("action", ["errands"], lambda r: "Buy %s, %s and %s at %s." % (
        r.choice(GROCERIES), r.choice(GROCERIES), r.choice(GROCERIES), r.choice(STORES))),
    _t("action", ["people"], lambda r: "Call %s back about the %s before %s." % (
        full_person(r), r.choice(TOPICS), r.choice(WEEKDAYS))),
    _t("action", ["admin"], lambda r: "Renew the %s before %s %d." % (
        r.choice(DOCUMENTS), pick_date(r), r.randint(2024, 2027))),
    _t("action", ["errands"], lambda r: "Pick up the %s from %s on %s after %s." % (
        r.choice(["parcel", "dry cleaning", "glasses", "prescription", "bike", "keys",
                  "photos", "repaired shoes"]), r.choice(VENUES), r.choice(WEEKDAYS),
        pick_time(r))),
    _t("action", ["food"], lambda r: "Book a table at %s for %d people on %s." % (
        restaurant(r), r.randint(2, 8), r.choice(WEEKDAYS))),
    _t("action", ["work"], lambda r: "Send %s the %s draft for %s." % (
        person(r), r.choice(TOPICS), r.choice(PROJECTS))),
    _t("action", ["admin"], lambda r: "Pay the %s bill (%d.%02d EUR) by %s." % (
        r.choice(BILLS), r.randint(20, 400), r.randint(0, 99), pick_date(r))),
    _t("action", ["work"], lambda r: "TODO: " + r.choice(CHORES).format(
        p=r.choice(PROJECTS), wd=r.choice(WEEKDAYS), t=r.choice(TOPICS), n=person(r)) + "."),
    _t("note", ["books", "people"], lambda r: "%s recommended %s; sounds like my kind of book." % (
        person(r), r.choice(BOOKS))),
    _t("note", ["books"], lambda r: "Finished reading %s. The part about %s stayed with me." % (
        r.choice(BOOKS), r.choice(BOOK_THEMES))),
    _t("note", ["people"], lambda r: "%s works at %s as a %s; we met at %s in %s." % (
        full_person(r), r.choice(COMPANIES), r.choice(ROLES), r.choice(VENUES), r.choice(CITIES))),
    _t("note", ["work", "ideas"], lambda r: "Idea for %s: %s." % (
        r.choice(PROJECTS), r.choice(IDEAS))),
    _t("note", ["food"], lambda r: "Tried the %s at %s in %s: %s." % (
        r.choice(DISHES), restaurant(r), r.choice(CITIES), r.choice(OPINIONS))),
    _t("note", ["food", "recipes"], lambda r: "Recipe from %s: %s with %s and %s, %d minutes "
       "in the oven." % (person(r), r.choice(DISHES), r.choice(INGREDIENTS),
                         r.choice(INGREDIENTS), r.choice((15, 20, 25, 30, 40, 45, 60)))),
    _t("note", ["people", "family"], lambda r: (lambda a, b: "%s's kids are %s and %s; %s loves "
                                                "%s." % (person(r), a, b, a, r.choice(HOBBIES)))(
        person(r), person(r))),
    _t("note", ["health", "sport"], lambda r: (lambda s: "%s %d %s along the river in %d "
                                               "minutes; %s." % (
        s[0].capitalize(), r.randint(3, 42) if s[1] == "km" else r.randint(10, 80), s[1],
        r.randint(15, 180), r.choice(FEELINGS)))(r.choice(SPORTS))),
    _t("note", ["health"], lambda r: "%s again after %s; took %s." % (
        r.choice(SYMPTOMS).capitalize(), r.choice(["a long day at the screen", "bad sleep",
                                                   "the flight", "too much coffee", "the gym",
                                                   "gardening"]), r.choice(MEDS))),
    _t("note", ["health"], lambda r: "Slept %d hours; resting heart rate %d, %d steps." % (
        r.randint(4, 9), r.randint(48, 75), r.randint(2000, 19000))),
    _t("note", ["travel"], lambda r: "Hotel in %s: %s, check-in from %s, confirmation %s%d." % (
        r.choice(CITIES), r.choice(HOTELS), pick_time(r), r.choice("KMQRXZ"),
        r.randint(100000, 999999))),
    _t("note", ["travel"], lambda r: "Trip idea: %d days in %s in %s, then the train to %s." % (
        r.randint(2, 14), r.choice(CITIES), r.choice(MONTHS), r.choice(CITIES))),
    _t("note", ["home"], lambda r: "Parking at %s is level %d, row %s." % (
        r.choice(VENUES), r.randint(-3, 5), r.choice("ABCDEFGH"))),
    _t("conversation", ["work", "people"], lambda r: (lambda n: "Talked with %s about the %s; "
                                                      "%s thinks we should %s." % (
        n, r.choice(TOPICS), n, r.choice(["wait until %s" % r.choice(MONTHS), "hire a contractor",
                                          "cut the scope", "ask legal first", "ship it anyway",
                                          "run a pilot in %s" % r.choice(CITIES)])))(person(r))),
    _t("conversation", ["work"], lambda r: "%s said the %s launch slips to %s because of %s." % (
        person(r), r.choice(PROJECTS), r.choice(MONTHS), r.choice(REASONS))),
    _t("conversation", ["people"], lambda r: "Chat with %s: moving to %s in %s, new job as %s." % (
        full_person(r), r.choice(CITIES), r.choice(MONTHS), r.choice(ROLES))),
    _t("email", ["work"], lambda r: "Email from %s (%s): %s for the %s, reply by %s." % (
        full_person(r), r.choice(COMPANIES), r.choice(["questions", "a proposal", "new numbers",
                                                       "feedback", "an invoice"]),
        r.choice(TOPICS), r.choice(WEEKDAYS))),
    _t("email", ["admin"], lambda r: "Invoice %d from %s for %d EUR, due %s." % (
        r.randint(10000, 99999), r.choice(COMPANIES), r.randint(50, 9000), pick_date(r))),
    _t("email", ["newsletter"], lambda r: "Newsletter from %s about %s and %s." % (
        r.choice(COMPANIES), r.choice(TOPICS), r.choice(TOPICS))),
]

_START = datetime.datetime(2023, 1, 1, tzinfo=datetime.timezone.utc)
_SPAN_S = int((datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc) - _START)
              .total_seconds())


def corpus_chunks(size, seed=CORPUS_SEED, chunk=BULK_SIZE):
    """Yields lists of at most `chunk` memory bodies; the same (size, seed)
    always gives the same memories."""
    rng = random.Random(seed)
    made = 0
    while made < size:
        n = min(chunk, size - made)
        out = []
        for _ in range(n):
            kind, tags, fn = rng.choice(TEMPLATES)
            ts = _START + datetime.timedelta(seconds=rng.randrange(_SPAN_S))
            out.append({"content": fn(rng), "type": kind, "tags": list(tags),
                        "source": "bench", "created_at": ts.strftime("%Y-%m-%dT%H:%M:%SZ")})
        made += n
        yield out


# ---- the queries ------------------------------------------------------------------

PARAPHRASES = [
    # (query, what it should find) — words the templates use only sometimes or never
    lambda r: "physician visit with Dr. %s" % r.choice(LAST),
    lambda r: "plane to %s" % r.choice(CITIES),
    lambda r: "purchase %s" % r.choice(GROCERIES),
    lambda r: "novel %s suggested" % r.choice(FIRST),
    lambda r: "jog by the river",
    lambda r: "watching %s with friends" % r.choice(FILMS),
    lambda r: "get-together with %s about %s" % (r.choice(FIRST), r.choice(PROJECTS)),
    lambda r: "bill from %s" % r.choice(COMPANIES),
    lambda r: "medicine for %s" % r.choice(SYMPTOMS),
    lambda r: "where do I park at %s" % r.choice(VENUES),
    lambda r: "accommodation in %s" % r.choice(CITIES),
    lambda r: "cooking %s at home" % r.choice(DISHES),
    lambda r: "tooth doctor",
    lambda r: "sleep and heart rate",
    lambda r: "eatery in %s" % r.choice(CITIES),
    lambda r: "%s's children" % r.choice(FIRST),
    lambda r: "delay of the %s release" % r.choice(PROJECTS),
    lambda r: "who relocated to %s" % r.choice(CITIES),
    lambda r: "expiring %s" % r.choice(DOCUMENTS),
    lambda r: "present for a birthday",
]
QUESTIONS = [
    lambda r: "When is my %s %s?" % (r.choice(DOCTORS)[0], r.choice(APPT_WORDS)),
    lambda r: "What did %s recommend to read?" % r.choice(FIRST),
    lambda r: "Which hotel did I book in %s?" % r.choice(CITIES),
    lambda r: "Who works at %s?" % r.choice(COMPANIES),
    lambda r: "When does the flight to %s leave?" % r.choice(CITIES),
    lambda r: "What did I eat in %s?" % r.choice(CITIES),
    lambda r: "How much was the invoice from %s?" % r.choice(COMPANIES),
    lambda r: "When is the %s %s meeting?" % (r.choice(PROJECTS), r.choice(TOPICS)),
    lambda r: "What do I need to buy at %s?" % r.choice(STORES),
    lambda r: "Where did I meet %s %s?" % (r.choice(FIRST), r.choice(LAST)),
    lambda r: "What are the names of %s's kids?" % r.choice(FIRST),
    lambda r: "When do I have to renew my %s?" % r.choice(DOCUMENTS),
    lambda r: "What was the recipe with %s?" % r.choice(INGREDIENTS),
    lambda r: "Why is the %s launch late?" % r.choice(PROJECTS),
    lambda r: "How far did I run last week?",
    lambda r: "What did I think of %s?" % r.choice(BOOKS),
]
EXACT = [
    lambda r: full_person(r),
    lambda r: r.choice(BOOKS),
    lambda r: "%s %s" % (r.choice(DISHES), r.choice(CITIES)),
    lambda r: "%s %s" % (r.choice(DOCTORS)[0], r.choice(APPT_WORDS)),
    lambda r: "%s %s" % (r.choice(PROJECTS), r.choice(TOPICS)),
    lambda r: "flight %s" % r.choice(CITIES),
    lambda r: restaurant(r),
    lambda r: "%s %s" % (r.choice(GROCERIES), r.choice(STORES)),
    lambda r: "%s %s" % (r.choice(HOTELS), r.choice(CITIES)),
    lambda r: "%s bill" % r.choice(BILLS),
    lambda r: "%s %s" % (r.choice(COMPANIES), r.choice(ROLES)),
]
BROAD = ["budget", "birthday", "yoga", "headache", "hotel", "recipe", "invoice",
         "meeting Monday", "dinner", "flight", "book", "kids", "renew", "newsletter",
         "insurance", "parcel", "river", "launch", "coffee", "train", "Friday", "doctor",
         "hiring", "Lisbon", "pasta", "security", "cinema", "garden", "steps", "EUR"]
KIND_COUNTS = (("exact", 50), ("question", 40), ("paraphrase", 40), ("typo", 40),
               ("broad", 30))


def typo(rng, text):
    """One typo (swap, drop, double or replace a letter) in one word of 5+ letters."""
    words = text.split(" ")
    spots = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not spots:
        return text + "s"
    i = rng.choice(spots)
    w = list(words[i])
    j = rng.randrange(1, len(w) - 1)
    op = rng.randrange(4)
    if op == 0:
        w[j], w[j + 1] = w[j + 1], w[j]
    elif op == 1:
        del w[j]
    elif op == 2:
        w.insert(j, w[j])
    else:
        w[j] = rng.choice("aeiourstln")
    words[i] = "".join(w)
    return " ".join(words)


def make_queries(seed=QUERY_SEED):
    """The fixed query set: [(kind, text)], 200 entries."""
    rng = random.Random(seed)
    out = []
    for kind, n in KIND_COUNTS:
        for i in range(n):
            if kind == "exact":
                q = EXACT[i % len(EXACT)](rng)
            elif kind == "question":
                q = QUESTIONS[i % len(QUESTIONS)](rng)
            elif kind == "paraphrase":
                q = PARAPHRASES[i % len(PARAPHRASES)](rng)
            elif kind == "typo":
                src = (EXACT + QUESTIONS)[i % (len(EXACT) + len(QUESTIONS))](rng)
                q = typo(rng, src)
            else:
                q = BROAD[i % len(BROAD)]
            out.append((kind, q))
    return out


# ---- other corpora (--corpus) -------------------------------------------------------

ZIPF_VOCAB = 400             # distinct words of the small-vocabulary corpus
ZIPF_S = 1.0                 # Zipf exponent of word choice
ZIPF_LEN = (8, 20)           # words per memory
ZIPF_KINDS = (("mid", 100), ("frequent", 50), ("mixed", 50))
_SYL = ("ka ri to me na lu so de vi ba po ne gu ta li mo ra se ku di fa no pe zu "
        "ha ji lo wa").split()


def zipf_vocab():
    """ZIPF_VOCAB distinct pseudo-words (2-3 syllables), rank order fixed."""
    rng = random.Random(CORPUS_SEED + 1)
    out, seen = [], set()
    while len(out) < ZIPF_VOCAB:
        w = "".join(rng.choice(_SYL) for _ in range(rng.choice((2, 3, 3))))
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def _zipf_cum():
    acc, cum = 0.0, []
    for r in range(1, ZIPF_VOCAB + 1):
        acc += 1.0 / r ** ZIPF_S
        cum.append(acc)
    return cum


def zipf_chunks(size, seed=CORPUS_SEED, chunk=BULK_SIZE):
    """The small-vocabulary corpus (issue 20): every memory is 8-20 words
    drawn by a Zipf law from 400 words, so a word of rank 30-70 is in 3-5 %
    of all memories and the top few in most of them. Same (size, seed),
    same memories."""
    import bisect
    vocab, cum = zipf_vocab(), _zipf_cum()
    rng = random.Random(seed)
    made = 0
    while made < size:
        n = min(chunk, size - made)
        out = []
        for _ in range(n):
            k = rng.randint(*ZIPF_LEN)
            words = [vocab[bisect.bisect_left(cum, rng.random() * cum[-1])] for _ in range(k)]
            ts = _START + datetime.timedelta(seconds=rng.randrange(_SPAN_S))
            out.append({"content": " ".join(words).capitalize() + ".", "type": "note",
                        "tags": [words[0]], "source": "bench",
                        "created_at": ts.strftime("%Y-%m-%dT%H:%M:%SZ")})
        made += n
        yield out


def zipf_doc_share(rank):
    """Share of memories holding the word of this 0-based rank (expected)."""
    cum = _zipf_cum()
    p = (1.0 / (rank + 1) ** ZIPF_S) / cum[-1]
    mean_len = sum(ZIPF_LEN) / 2.0
    return 1.0 - (1.0 - p) ** mean_len


def zipf_queries(seed=QUERY_SEED):
    """200 queries: `mid` 2-4 words each in 3-5 % of memories; `frequent`
    1-3 words from the 10 most common (in most memories) and one mid word;
    `mixed` 3-5 words from anywhere in the top 200."""
    vocab = zipf_vocab()
    mid = [r for r in range(ZIPF_VOCAB) if 0.03 <= zipf_doc_share(r) <= 0.05]
    rng = random.Random(seed)
    out = []
    for kind, n in ZIPF_KINDS:
        for _ in range(n):
            if kind == "mid":
                ws = rng.sample(mid, rng.randint(2, 4))
            elif kind == "frequent":
                ws = rng.sample(range(10), rng.randint(1, 3)) + [rng.choice(mid)]
            else:
                ws = rng.sample(range(200), rng.randint(3, 5))
            out.append((kind, " ".join(vocab[r] for r in ws)))
    return out


LOCOMO_DATA = [os.environ.get("POS_LOCOMO_DATA") or
               os.path.join(os.path.dirname(H.REPO_ROOT), "shared", "data", "locomo-dev.json")]


def _locomo():
    sys.path.insert(0, os.path.join(HERE, "locomo"))
    import run as L  # noqa: E402  (bench/locomo/run.py)
    convs, _stats = L.load_dataset(LOCOMO_DATA[0])
    return convs


def locomo_chunks(size, seed=CORPUS_SEED, chunk=BULK_SIZE):
    """The LoCoMo dev turns (conversations 1-3), repeated to `size`
    memories (each repeat a thread of its own, so thread context stays
    within a copy)."""
    turns = [(ci, t) for ci, c in enumerate(_locomo()) for t in c["turns"]]
    made = 0
    while made < size:
        n = min(chunk, size - made)
        out = []
        for i in range(made, made + n):
            ci, t = turns[i % len(turns)]
            m = {"content": t["content"], "type": "conversation", "source": "locomo",
                 "metadata": {"thread": "c%d-r%d" % (ci, i // len(turns))}}
            if t.get("created_at"):
                m["created_at"] = t["created_at"]
            out.append(m)
        made += n
        yield out


def locomo_queries(seed=QUERY_SEED):
    """The first 200 LoCoMo dev questions, as written."""
    qs = [("question", q["question"]) for c in _locomo() for q in c["questions"]]
    return qs[:200]


CORPORA = {
    "default": (corpus_chunks, make_queries, KIND_COUNTS),
    "zipf": (zipf_chunks, zipf_queries, ZIPF_KINDS),
    "locomo": (locomo_chunks, locomo_queries, (("question", 200),)),
}


# ---- the vector baseline --------------------------------------------------------------

def build_vector_bench(work):
    """Builds bench/vector_bench.c into `work` the way its header says (it
    links a few of the server's sources); returns (path, None) or (None, why)."""
    exe = os.path.join(work, "vector_bench")
    if os.path.exists(exe):
        return exe, None
    root = H.REPO_ROOT
    srcs = ["bench/vector_bench.c"] + sorted(
        os.path.relpath(p, root) for p in glob.glob(os.path.join(root, "src/embed/*.c"))
        if not p.endswith("openai.c")) + \
        ["src/search/vector.c", "src/search/vcols.c", "src/base/alloc.c", "src/base/err.c",
         "src/base/thread.c"]
    cmd = [os.environ.get("CC", "cc"), "-O2", "-std=c17", "-D_GNU_SOURCE", "-Isrc",
           "-include", "src/base/compat.h"] + srcs + ["-ljansson", "-lm", "-lpthread", "-o", exe]
    r = subprocess.run(cmd, cwd=root, capture_output=True, text=True)
    if r.returncode != 0:
        return None, "building bench/vector_bench.c failed: %s" % r.stderr.strip()[:300]
    return exe, None


_SCAN_LINE = re.compile(r"^\s*(f32 scan|int8 \S+)\s+p50\s+([0-9.]+) ms\s+p99\s+([0-9.]+) ms",
                        re.M)


def vector_baseline(args, n, work):
    """Brute-force scans over n random 256-dim vectors from bench/vector_bench
    (`vector_bench scan N`: one thread, 51 queries): the float32 scan is the
    baseline, the fastest int8 kernel is shown next to it. Returns
    {"p50_ms", "p99_ms", "int8": {...}, "raw"} or {"skipped": why}."""
    exe = args.vector_bench
    if not exe:
        cand = os.path.join(HERE, "vector_bench")
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            exe = cand
        elif os.path.isfile(os.path.join(HERE, "vector_bench.c")):
            exe, why = build_vector_bench(work)
            if not exe:
                return {"skipped": why}
        else:
            return {"skipped": "bench/vector_bench.c does not exist"}
    try:
        r = subprocess.run([exe, "scan", str(n)], capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        return {"skipped": "running %s failed: %s" % (exe, e)}
    found = {m.group(1): (float(m.group(2)), float(m.group(3)))
             for m in _SCAN_LINE.finditer(r.stdout)}
    if r.returncode != 0 or "f32 scan" not in found:
        return {"skipped": "%s scan %d gave no f32 figure (status %d): %s"
                           % (exe, n, r.returncode, (r.stdout + r.stderr).strip()[:300])}
    out = {"p50_ms": found["f32 scan"][0], "p99_ms": found["f32 scan"][1],
           "raw": r.stdout.strip()[:2000], "command": [exe, "scan", str(n)]}
    int8 = [(v[0], v[1], k[5:]) for k, v in found.items() if k.startswith("int8 ")]
    if int8:
        p50, p99, kernel = min(int8)
        out["int8"] = {"p50_ms": p50, "p99_ms": p99, "kernel": kernel}
    return out


# ---- one size ---------------------------------------------------------------------------

def run_size(args, size, queries, work):
    """Loads `size` memories into a fresh server (or, with --base-url, into a
    new user of a running one) and measures everything."""
    res = {"size": size, "notes": []}
    sdir = os.path.join(work, "n%d" % size)
    os.makedirs(sdir, exist_ok=True)
    srv = None
    if not args.base_url:
        srv = H.Server(H.resolve_binary(args.bin), os.path.join(sdir, "data"), sdir, args.env)
    fts_path = os.path.join(sdir, "fts5.db")
    fts = None
    t_size0 = time.perf_counter()
    try:
        if srv:
            srv.start()
        client = H.Client(srv.base_url if srv else args.base_url)
        email = "search-bench-%d-%d-%d@example.com" % (size, int(time.time()), os.getpid())
        sess = H.Session(client, email).register()
        res["rss_idle_mb"] = srv.rss_mb() if srv else None
        try:                    # does the search endpoint exist? (the rest is measured anyway)
            sess.search("probe", mode=args.modes[0], limit=1)
        except H.SearchMissing as e:
            res["search_missing"] = str(e)
            H.log("search_bench: %s\nsearch_bench: measuring ingest, size and the "
                  "baselines only" % e)

        # ---- ingest
        fts = H.fts5_open(fts_path)
        bulk_ms, bulk_req_ms, fts_ms, content_bytes, gen_s = 0.0, [], 0.0, 0, 0.0
        t_gen = time.perf_counter()
        H.log("  ingest: %s memories, %d per request" % (H.fmt_rate(size), BULK_SIZE))
        # Bodies are made before the clock starts; then `ingest_conns`
        # connections send them, as an importer would (the server parses and
        # embeds on several threads while one writer commits).
        chunks = list(CORPORA[args.corpus][0](size))
        bodies = [json.dumps({"memories": c}, separators=(",", ":")).encode() for c in chunks]
        gen_s = time.perf_counter() - t_gen
        token = sess.fresh_token()
        base = srv.base_url if srv else args.base_url
        lock = threading.Lock()
        failures = []

        def send(i):
            c = clients.get()
            try:
                r = c.request("POST", "/api/memories/bulk", raw_body=bodies[i], token=token)
                if r.status != 201 or not isinstance(r.doc, dict) or r.doc.get("created") != len(chunks[i]):
                    with lock:
                        failures.append(r.error_text())
                with lock:
                    bulk_req_ms.append(r.client_ms)
            finally:
                clients.put(c)

        clients = queue.Queue()
        for _ in range(args.ingest_conns):
            clients.put(H.Client(base))
        t_wall = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(args.ingest_conns) as pool:
            list(pool.map(send, range(len(bodies))))
        bulk_ms = (time.perf_counter() - t_wall) * 1000.0
        if failures:
            raise H.BenchError("POST /api/memories/bulk answered %s" % failures[0])
        for chunk in chunks:
            t0 = time.perf_counter()
            with fts:
                fts.executemany("INSERT INTO docs(content) VALUES (?)",
                                [(m["content"],) for m in chunk])
            fts_ms += (time.perf_counter() - t0) * 1000.0
            content_bytes += sum(len(m["content"].encode()) for m in chunk)
        del bodies
        res["ingest"] = {
            "memories_per_s": size / (bulk_ms / 1000.0),
            "request_ms": H.latency_summary(bulk_req_ms),
            "fts5_rows_per_s": size / (fts_ms / 1000.0) if fts_ms else None,
            "content_bytes_per_memory": content_bytes / size,
            "generate_s": gen_s, "bulk_s": bulk_ms / 1000.0, "fts5_insert_s": fts_ms / 1000.0,
        }
        res["ingest_wall_s"] = time.perf_counter() - t_size0
        H.log("  ingest: %s memories/s (FTS5 alone in Python: %s rows/s)" % (
            H.fmt_rate(res["ingest"]["memories_per_s"]),
            H.fmt_rate(res["ingest"]["fts5_rows_per_s"])))
        total = sess.total()
        if total != size:
            res["notes"].append("the server holds %s memories, %d were loaded" % (total, size))
        time.sleep(1.0)
        res["rss_after_load_mb"] = srv.rss_mb() if srv else None

        # ---- queries
        t_q0 = time.perf_counter()
        res["modes"], res["fts5"] = query_phase(args, sess, fts, queries,
                                                "search_missing" in res)
        res["query_wall_s"] = time.perf_counter() - t_q0
        client.close()
        if srv:
            time.sleep(1.0)
            res["rss_after_queries_mb"] = srv.rss_mb()
            res["rss_peak_mb"] = srv.hwm_mb()
            res["rss_anon_mb"] = srv.anon_mb()
            res["db_running_bytes"] = H.dir_bytes(srv.data_dir)[0]
            srv.stop()          # a clean close checkpoints the WAL into the database
            apparent, allocated = H.dir_bytes(srv.data_dir)
            res["db_bytes"], res["db_allocated_bytes"] = apparent, allocated
            res["db_bytes_per_memory"] = apparent / size
        else:
            res["notes"].append("--base-url: no RSS or database size figures")
    finally:
        if srv:
            srv.kill()
        if fts is not None:
            fts.close()
    res["fts5_bytes_per_memory"] = os.path.getsize(fts_path) / size
    res["vector"] = vector_baseline(args, size, work) if not args.no_vector else \
        {"skipped": "--no-vector"}
    res["wall_s"] = time.perf_counter() - t_size0
    if not args.keep:
        shutil.rmtree(sdir, ignore_errors=True)
    return res


def query_phase(args, sess, fts, queries, missing=False):
    """Every mode and the FTS5 baseline over the same queries, `rounds`
    passes, each pass in a fresh shuffled order (seeded), modes alternating
    within a pass. Returns ({mode: figures}, fts5 figures)."""
    per = {m: {"client": [], "took": [], "timing": [], "found": 0, "asked": 0,
               "by_kind": {}} for m in args.modes}
    errors = {m: "search endpoint missing (404)" for m in args.modes} if missing else {}
    fts_ms, fts_found, fts_kind = [], 0, {}
    # warm-up, not counted: a few queries per mode; a 404 stops the run here
    for mode in args.modes:
        if mode in errors:
            continue
        for _kind, q in queries[:args.warmup]:
            r = sess.search(q, mode=mode, limit=args.limit)
            if r.status != 200:
                errors[mode] = r.error_text()
                break
    rng = random.Random(QUERY_SEED + 1)
    order = list(range(len(queries)))
    for rnd in range(args.rounds):
        rng.shuffle(order)
        H.log("  queries: round %d of %d, %d queries × %d modes + FTS5"
              % (rnd + 1, args.rounds, len(order), len(args.modes)))
        for mode in args.modes:
            if mode in errors:
                continue
            p = per[mode]
            for i in order:
                kind, q = queries[i]
                r = sess.search(q, mode=mode, limit=args.limit)
                if r.status != 200:
                    errors[mode] = "%s (query %r)" % (r.error_text(), q)
                    break
                ids, took = H.search_hits(r)
                p["client"].append(r.client_ms)
                p["took"].append(took)
                p["timing"].append(r.server_ms)
                p["asked"] += 1
                p["found"] += bool(ids)
                p["by_kind"].setdefault(kind, []).append(took if took is not None
                                                         else r.client_ms)
        for i in order:
            kind, q = queries[i]
            rows, ms = H.fts5_search(fts, q, args.limit)
            fts_ms.append(ms)
            fts_found += bool(rows)
            fts_kind.setdefault(kind, []).append(ms)
    out = {}
    for mode in args.modes:
        if mode in errors:
            out[mode] = {"error": errors[mode]}
            continue
        p = per[mode]
        out[mode] = {"client_ms": H.latency_summary(p["client"]),
                     "took_ms": H.latency_summary(p["took"]),
                     "server_timing_ms": H.latency_summary(p["timing"]),
                     "found_share": p["found"] / p["asked"] if p["asked"] else None,
                     "took_p50_by_kind": {k: H.median(v) for k, v in p["by_kind"].items()}}
    fts_out = {"ms": H.latency_summary(fts_ms),
               "found_share": fts_found / len(fts_ms) if fts_ms else None,
               "p50_by_kind": {k: H.median(v) for k, v in fts_kind.items()}}
    return out, fts_out


# ---- report -------------------------------------------------------------------------

def size_label(n):
    if n >= 1000000 and n % 1000000 == 0:
        return "%dM" % (n // 1000000)
    if n >= 1000 and n % 1000 == 0:
        return "%dk" % (n // 1000)
    return str(n)


def p50p99(s):
    return "%s / %s" % (H.fmt_ms(s["p50"]), H.fmt_ms(s["p99"])) if s else "n/a"


def build_rows(R):
    sizes = R["sizes"]
    rows = []

    def row(name, fn):
        cells = []
        for s in sizes:
            try:
                cells.append(fn(s))
            except (KeyError, TypeError):
                cells.append("n/a")
        rows.append((name,) + tuple(cells))

    row("bulk ingest, memories/s", lambda s: H.fmt_rate(s["ingest"]["memories_per_s"]))
    row("  FTS5 alone insert (Python sqlite3), rows/s; ratio",
        lambda s: "%s; %s" % (H.fmt_rate(s["ingest"]["fts5_rows_per_s"]), H.fmt_ratio(
            H.ratio(s["ingest"]["memories_per_s"], s["ingest"]["fts5_rows_per_s"]))))
    for mode in R["modes"]:
        def took(s, mode=mode):
            m = s["modes"][mode]
            return "error: " + m["error"] if "error" in m else p50p99(m["took_ms"])

        def client(s, mode=mode):
            m = s["modes"][mode]
            return "—" if "error" in m else p50p99(m["client_ms"])
        row("%s: server took_ms p50 / p99" % mode, took)
        row("%s: client p50 / p99" % mode, client)
        row("%s: queries with results" % mode,
            lambda s, mode=mode: "%.0f%%" % (100 * s["modes"][mode]["found_share"]))
    row("FTS5 alone (in-process): p50 / p99", lambda s: p50p99(s["fts5"]["ms"]))
    row("FTS5 alone: queries with results",
        lambda s: "%.0f%%" % (100 * s["fts5"]["found_share"]))
    for mode in R["modes"]:
        if mode == "semantic":
            continue
        row("%s p50 / FTS5 p50" % mode, lambda s, mode=mode: H.fmt_ratio(H.ratio(
            s["modes"][mode]["took_ms"]["p50"], s["fts5"]["ms"]["p50"])))
    row("vector brute force, float32, 256-d, 1 thread: p50 / p99",
        lambda s: ("skipped: " + s["vector"]["skipped"]) if "skipped" in s["vector"] else
        "%s / %s" % (H.fmt_ms(s["vector"]["p50_ms"]), H.fmt_ms(s["vector"]["p99_ms"])))
    row("  int8 scan (fastest kernel): p50 / p99",
        lambda s: "%s / %s (%s)" % (H.fmt_ms(s["vector"]["int8"]["p50_ms"]),
                                    H.fmt_ms(s["vector"]["int8"]["p99_ms"]),
                                    s["vector"]["int8"]["kernel"]))
    if "semantic" in R["modes"]:
        row("semantic p50 / vector float32 p50 (/ int8 p50)", lambda s: "%s (%s)" % (
            H.fmt_ratio(H.ratio(s["modes"]["semantic"]["took_ms"]["p50"],
                                s["vector"].get("p50_ms"))),
            H.fmt_ratio(H.ratio(s["modes"]["semantic"]["took_ms"]["p50"],
                                (s["vector"].get("int8") or {}).get("p50_ms")))))
    row("server RSS after load / after queries (peak)",
        lambda s: "%s / %s (%s)" % (H.fmt_mb(s["rss_after_load_mb"]),
                                    H.fmt_mb(s["rss_after_queries_mb"]),
                                    H.fmt_mb(s["rss_peak_mb"])))
    row("  of which RssAnon (heap, not mapped file pages)",
        lambda s: H.fmt_mb(s["rss_anon_mb"]))
    row("database bytes per memory (after checkpoint)",
        lambda s: "{:,.0f} B".format(s["db_bytes_per_memory"]))
    row("  FTS5 alone bytes per memory; content bytes per memory",
        lambda s: "{:,.0f} B; {:,.0f} B".format(s["fts5_bytes_per_memory"],
                                                s["ingest"]["content_bytes_per_memory"]))
    head = ("figure",) + tuple(size_label(s["size"]) for s in sizes)
    return head, rows


def render(R, markdown=False):
    m = R["machine"]
    head, rows = build_rows(R)
    table = H.markdown_table if markdown else H.text_table
    out = ["PersonalOS search benchmark — %s, commit %s, %d CPUs (%s), Linux %s"
           % (m["date"], m["commit"], m["cpus"], m["cpu"], m["kernel"]),
           "corpus %s; %d queries (%s) × %d rounds per mode, limit %d; corpus seed %d" % (
               R["config"]["corpus"], len(R["queries"]),
               ", ".join("%d %s" % (n, k) for k, n in CORPORA[R["config"]["corpus"]][2]),
               R["config"]["rounds"], R["config"]["limit"], CORPUS_SEED), "",
           table(head, rows)]
    for note in R["notes"] + [n for s in R["sizes"] for n in
                              ["%s: %s" % (size_label(s["size"]), x) for x in s["notes"]]]:
        out.append(("Note: " if markdown else "note: ") + note)
    return "\n".join(out) + "\n"


# ---- main ------------------------------------------------------------------------------

def parse_size(s):
    s = s.strip().lower().replace("_", "")
    mult = 1
    if s.endswith("k"):
        mult, s = 1000, s[:-1]
    elif s.endswith("m"):
        mult, s = 1000000, s[:-1]
    v = int(float(s) * mult)
    if v < 1:
        raise ValueError(s)
    return v


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--bin", default=os.environ.get("POS_BIN", "build-release/personalos"),
                       help="personalos binary (default $POS_BIN or build-release/personalos)")
    where.add_argument("--base-url", help="measure a running server instead (a new user "
                       "per size; no RSS or database size figures)")
    ap.add_argument("--corpus", choices=sorted(CORPORA), default="default",
                    help="default: the personal-memory templates; zipf: 400 words drawn "
                         "by a Zipf law (query words in 3-5 %% of memories, issue 20); "
                         "locomo: the LoCoMo dev turns repeated to size")
    ap.add_argument("--locomo-data", metavar="FILE", help="LoCoMo JSON for --corpus locomo "
                    "(default $POS_LOCOMO_DATA or ../shared/data/locomo-dev.json)")
    ap.add_argument("--sizes", default="10k,100k",
                    help="corpus sizes, comma-separated, e.g. 10k,100k,1m (default 10k,100k)")
    ap.add_argument("--modes", default="hybrid,keyword,semantic",
                    help="search modes (default hybrid,keyword,semantic)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="passes over the 200 queries per mode (default 3)")
    ap.add_argument("--warmup", type=int, default=20,
                    help="queries asked first per mode, not counted (default 20)")
    ap.add_argument("--limit", type=int, default=20, help="results per query (default 20)")
    ap.add_argument("--budget-minutes", type=float, default=BUDGET_MINUTES,
                    help="skip a size of %s or more whose estimated time exceeds this "
                         "(default %.0f)" % (size_label(LARGE), BUDGET_MINUTES))
    ap.add_argument("--force", action="store_true", help="run large sizes even when the "
                    "estimate is over budget")
    ap.add_argument("--vector-bench", metavar="PATH",
                    help="a built vector_bench (default: bench/vector_bench, else "
                         "bench/vector_bench.c built into the work directory)")
    ap.add_argument("--no-vector", action="store_true", help="skip the vector baseline")
    ap.add_argument("--print-queries", action="store_true",
                    help="print the query set and exit")
    ap.add_argument("--work-dir", help="where data directories go (default: a temporary "
                    "directory, removed afterwards)")
    ap.add_argument("--keep", action="store_true", help="keep data directories and logs")
    ap.add_argument("--ingest-conns", type=int, default=2, metavar="N",
                    help="concurrent bulk connections while ingesting (default 2); "
                         "memories/s is wall-clock over the whole load")
    ap.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for the server (repeatable)")
    ap.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    ap.add_argument("--markdown", metavar="FILE", help="also write the table as markdown")
    args = ap.parse_args(argv)
    try:
        args.sizes = sorted(set(parse_size(x) for x in args.sizes.split(",") if x.strip()))
    except ValueError:
        ap.error("--sizes: want numbers like 10k,100k,1m")
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not args.sizes or not args.modes or any(not re.fullmatch(r"[a-z_]+", m)
                                               for m in args.modes):
        ap.error("--sizes and --modes must not be empty")
    if args.rounds < 1 or args.warmup < 0 or not 1 <= args.limit <= 200:
        ap.error("--rounds >= 1, --warmup >= 0, 1 <= --limit <= 200")
    # Rate limits off unless asked for (--server-env PERSONALOS_RATE_LIMIT=on):
    # one client at thousands of requests/s is the benchmark, not an attack.
    # Likewise the per-address connection cap: every load connection comes
    # from 127.0.0.1.
    args.env = {"PERSONALOS_RATE_LIMIT": "off", "PERSONALOS_MAX_CONNECTIONS_PER_IP": "0"}
    for kv in args.server_env:
        if "=" not in kv:
            ap.error("--server-env wants NAME=VALUE, got %r" % kv)
        k, v = kv.split("=", 1)
        args.env[k] = v
    return args


def estimate_s(prev, size):
    """Seconds a run of `size` should take, from a smaller measured run:
    ingest scaled linearly with a 1.5× margin for a larger index, queries
    scaled linearly (an upper bound for index lookups, about right for a
    brute-force vector scan), the vector baseline and overheads included."""
    scale = size / prev["size"]
    return 1.5 * scale * prev["ingest_wall_s"] + scale * prev["query_wall_s"] + 60.0


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.locomo_data:
        LOCOMO_DATA[0] = args.locomo_data
    queries = CORPORA[args.corpus][1]()
    if args.print_queries:
        for kind, q in queries:
            print("%-10s %s" % (kind, q))
        return 0
    if any(s >= LARGE for s in args.sizes) and not any(100000 <= s < LARGE for s in args.sizes):
        args.sizes = sorted(set(args.sizes + [100000]))
        H.log("search_bench: adding a 100k run first, to estimate the time of the large run")
    work = args.work_dir or tempfile.mkdtemp(prefix="pos-search-bench-")
    os.makedirs(work, exist_ok=True)
    R = {"machine": H.machine_info(None if args.base_url else args.bin),
         "queries": queries, "modes": args.modes,
         "config": {"rounds": args.rounds, "warmup": args.warmup, "limit": args.limit,
                    "bulk_size": BULK_SIZE, "corpus_seed": CORPUS_SEED,
                    "corpus": args.corpus,
                    "query_seed": QUERY_SEED}, "sizes": [], "notes": []}
    status = 0
    try:
        for size in args.sizes:
            if size >= LARGE and R["sizes"]:
                est = estimate_s(R["sizes"][-1], size)
                H.log("search_bench: %s is estimated at %.0f min (from the %s run)" % (
                    size_label(size), est / 60.0, size_label(R["sizes"][-1]["size"])))
                if est > args.budget_minutes * 60 and not args.force:
                    R["notes"].append("%s skipped: estimated %.0f min, over the %g min "
                                      "budget (--force runs it)" % (
                                          size_label(size), est / 60.0, args.budget_minutes))
                    H.log("search_bench: " + R["notes"][-1])
                    continue
            H.log("search_bench: %s memories" % size_label(size))
            R["sizes"].append(run_size(args, size, queries, work))
            H.log("search_bench: %s done in %.0f s" % (size_label(size),
                                                       R["sizes"][-1]["wall_s"]))
    except H.SearchMissing as e:
        H.log("search_bench: %s" % e)
        H.log("search_bench: SEARCH ENDPOINT MISSING — nothing measured")
        status = 3
    except H.BenchError as e:
        H.log("search_bench: %s" % e)
        H.log("search_bench: work directory kept: %s" % work)
        return 1
    if R["sizes"]:
        print(render(R), end="")
        if args.markdown:
            with open(args.markdown, "w") as f:
                f.write(render(R, markdown=True))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(R, f, indent=1)
                f.write("\n")
        if any("search_missing" in s for s in R["sizes"]):
            H.log("search_bench: SEARCH ENDPOINT MISSING — only ingest, memory, size and "
                  "the baselines were measured")
            status = 3
        elif any("error" in m for s in R["sizes"] for m in s["modes"].values()):
            status = status or 1
    if args.keep or args.work_dir:
        H.log("search_bench: work directory: %s" % work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
