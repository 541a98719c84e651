"""Phase 7 without models: catalog, reward, parser, pages, invalid actions, baselines, loader, resume, results."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sit.agent.actions import extract_action
from sit.agent.baselines import RandomAgent, RuleAgent
from sit.agent.catalog import CATEGORIES, build_catalog
from sit.agent.env import Shop
from sit.agent.episodes import run_episodes
from sit.agent.metrics import summarize
from sit.agent.prompting import TASK_PROMPT, fit
from sit.agent.reward import reward
from sit.agent.run import evaluate_agent, read_results, results_path
from sit.agent.schema import load_catalog_file, save_catalog
from sit.agent.trajectories import TOY_RESULTS_PER_PAGE, toy_conversations
from sit.agent.webshop_files import load_webshop
from sit.config import ConfigError, load_profile
from sit.session import start

SIT = str(Path(sys.executable).with_name("sit"))


@pytest.fixture(scope="module")
def catalog():
    return build_catalog(42)


def product(**changes):
    base = {"id": "B0TEST0001", "title": "Herbalis Sulfate Free Argan Oil Shampoo", "category": "shampoo",
            "query": "shampoo", "product_category": "Beauty › Hair Care › Shampoo", "price": 12.5,
            "attributes": ["sulfate free", "argan oil"], "options": {"size": ["8 fl oz", "12 fl oz"],
                                                                   "color": ["heather gray", "red"]},
            "description": "A gentle shampoo. Paraben free.", "features": ["Color safe."], "reviews": [], "rating": 4.0}
    return {**base, **changes}


def goal(**changes):
    base = {"id": "test-0000", "split": "test", "product_id": "B0TEST0001", "instruction": "i need shampoo",
            "attributes": ["sulfate free", "argan oil"], "options": ["12 fl oz", "gray"], "price_upper": 20.0,
            "query": "shampoo", "category": "shampoo", "product_category": "Beauty › Hair Care › Shampoo",
            "name": "Herbalis Sulfate Free Argan Oil Shampoo"}
    return {**base, **changes}


# ----------------------------------------------------------------------------- reward


def test_reward_full_match_fuzzy_attributes_and_colour_normalisation():
    value, info = reward(product(attributes=["Sulfate-Free", "argan oil"]), goal(),
                         {"size": "12 fl oz", "color": "heather gray"})
    assert value == 1.0 and info["r_type"] == 1.0


def test_reward_attribute_found_in_text_partial_options_and_over_budget():
    # "paraben free" is only in the description: it still counts; one of two options; price over budget.
    value, info = reward(product(price=25.0), goal(attributes=["sulfate free", "paraben free", "keto friendly"]),
                         {"size": "8 fl oz", "color": "red gray"})
    assert info["r_att"] == pytest.approx(2 / 3) and info["r_option"] == 0.5 and info["r_price"] is False
    assert value == pytest.approx((2 + 1 + 0) / (3 + 2 + 1))


def test_reward_no_options_chosen_scores_attributes_and_price_only():
    value, _ = reward(product(), goal(), {})
    assert value == pytest.approx(3 / 5)


def test_reward_wrong_type_scales_everything_down():
    other = product(title="Zenflow Extra Thick Yoga Mat", query="yoga mat",
                    product_category="Sports › Fitness › Yoga", attributes=["sulfate free", "argan oil"])
    assert reward(other, goal(), {"size": "12 fl oz", "color": "gray"})[1]["r_type"] == 0.0
    # One shared title word of six, other query and breadcrumb: 0.1 <= score <= 0.2 -> r_type 0.5.
    similar = product(title="Zenflow Argan Yoga Mat", query="yoga mat", product_category="Sports › Fitness › Yoga")
    value, info = reward(similar, goal(), {"size": "12 fl oz", "color": "gray"})
    assert info["r_type"] == 0.5 and value == 0.5


def test_bundled_catalog_size_targets_and_near_misses(catalog):
    assert len(catalog.products) >= 300 and len(CATEGORIES) >= 10
    assert len({p["category"] for p in catalog.products}) >= 10
    assert len(catalog.split("test")) + len(catalog.split("dev")) >= 100
    assert build_catalog(42).digest() == catalog.digest() != build_catalog(7).digest()
    near_miss_scores = []
    for g in catalog.split("test"):
        target = catalog.by_id[g["product_id"]]
        chosen = {grp: v for grp, values in target["options"].items() for v in g["options"] if v in values}
        assert reward(target, g, chosen)[0] == 1.0
        siblings = [p for p in catalog.products if p["title"] == target["title"] and p["id"] != target["id"]]
        assert siblings, g["id"]
        near_miss_scores += [reward(p, g, {grp: v for grp, vals in p["options"].items() for v in g["options"]
                                           if v in vals})[0] for p in siblings]
    assert sum(s < 1 for s in near_miss_scores) / len(near_miss_scores) > 0.9


def test_test_products_never_targets_of_train_goals(catalog):
    test_titles = {catalog.by_id[g["product_id"]]["title"] for g in catalog.split("test")}
    train_ids = {g["product_id"] for g in catalog.split("train")}
    assert not any(catalog.by_id[i]["title"] in test_titles and i in train_ids
                   for i in {g["product_id"] for g in catalog.split("test")})
    assert not train_ids & {g["product_id"] for g in catalog.split("test")}


# ----------------------------------------------------------------------------- actions


@pytest.mark.parametrize("text, action", [
    ("Thought:\nI think so.\n\nAction:\nclick[Buy Now]", "click[Buy Now]"),
    ("Action: search[red shirt]", "search[red shirt]"),
    ("action:\n  click[b0abc]\nmore text", "click[b0abc]"),
    ("Action: click[a] Action: click[b]", "click[a]"),
    ("Action:\n\nsearch[x]]", "search[x]"),
])
def test_parser_accepts_agentbench_forms(text, action):
    assert extract_action(text) == action


@pytest.mark.parametrize("text", ["click[Buy Now]", "Action: buy[it]", "Action: Search[shirt]", "Action: search[]",
                                  "ACTION: click[x]", "Thought: I would search[shirt]", ""])
def test_parser_rejects(text):
    assert extract_action(text) is None


# ----------------------------------------------------------------------------- pages


def test_page_transitions_pagination_and_purchase(catalog):
    g = catalog.split("test")[0]
    episode = Shop(catalog, results_per_page=4).episode(g)
    assert episode.observation.startswith("WebShop [SEP] Instruction: [SEP] ")
    assert episode.available_actions() == {"has_search_bar": True, "clickables": []}
    assert episode.step("search[" + g["query"] + "]").valid
    first = episode.available_actions()["clickables"]
    assert first[:2] == ["back to search", "next >"] and len(first) == 6
    assert "Page 1 (Total results: " in episode.observation
    episode.step("click[Next >]")
    second = episode.available_actions()["clickables"]
    assert "Page 2" in episode.observation and second[:3] == ["back to search", "< prev", "next >"]
    assert not set(first[2:]) & set(second[3:])
    episode.step("click[< Prev]")
    assert episode.available_actions()["clickables"] == first
    pid = first[2]
    episode.step(f"click[{pid.upper()}]")  # case-insensitive, as WebShop lower-cases clicks
    item = catalog.by_id[pid.upper()]
    assert episode.page == "item" and item["title"] in episode.observation
    assert episode.available_actions()["clickables"][:6] == ["back to search", "< prev", "description", "features",
                                                             "reviews", "buy now"]
    episode.step("click[Features]")
    assert episode.observation.endswith(" [SEP] ".join(item["features"]))
    episode.step("click[< Prev]")
    value = next(iter(item["options"].values()))[0]
    episode.step(f"click[{value}]")
    assert episode.observation.endswith(f"You have clicked {value}.")
    episode.step("click[< Prev]")
    assert episode.page == "results" and episode.page_number == 1
    episode.step("click[Back to Search]")
    assert episode.available_actions()["has_search_bar"]
    episode.step("search[" + g["instruction"] + "]")
    episode.step(f"click[{episode.available_actions()['clickables'][-1]}]")
    step = episode.step("click[Buy Now]")
    assert step.done and step.reward == episode.reward > 0 and "Your score" in step.observation


def test_invalid_actions_change_nothing_and_are_counted(catalog, tmp_path):
    g = catalog.split("test")[0]
    episode = Shop(catalog).episode(g)
    assert not episode.step("click[search]").valid and episode.page == "search"
    episode.step("search[shampoo]")
    before = episode.observation
    for bad in ("click[not here]", "search[again]", "jump[x]"):
        assert not episode.step(bad).valid
    assert episode.observation == before

    class Scripted:
        def __init__(self, replies):
            self.replies_left = list(replies)

        def replies(self, states):
            return [self.replies_left.pop(0) for _ in states]

    scripted = Scripted(["Action: search[shampoo]", "Action: click[nowhere]", "I give up."])
    [record] = run_episodes(Shop(catalog), [g], scripted, tmp_path / "e.jsonl", {"agent": "scripted"},
                            progress=False)
    assert record["end"] == "invalid_format" and record["rounds"] == 3 and record["invalid_actions"] == 2
    assert record["reward"] == 0.0 and [t["valid"] for t in record["turns"]] == [True, False, False]
    looping = Scripted(["Action: search[shampoo]"] + ["Action: click[next >]", "Action: click[< prev]"] * 5)
    [record] = run_episodes(Shop(catalog), [g], looping, tmp_path / "l.jsonl", {"agent": "loop"}, progress=False)
    assert record["end"] == "round_limit" and record["rounds"] == 10
    summary = summarize([record, {**record, "invalid_actions": 5}], seed=1)
    assert summary["invalid_action_rate"]["value"] == pytest.approx(5 / 20)


def test_rule_baseline_beats_random_clearly(catalog, tmp_path):
    shop, goals = Shop(catalog), catalog.split("test")
    rule = summarize(run_episodes(shop, goals, RuleAgent(), tmp_path / "r.jsonl", {"a": 1}, progress=False), seed=0)
    rand = summarize(run_episodes(shop, goals, RandomAgent(0), tmp_path / "n.jsonl", {"a": 2}, progress=False),
                     seed=0)
    assert rule["reward"]["ci_low"] > rand["reward"]["ci_high"]
    assert rule["reward"]["value"] - rand["reward"]["value"] > 0.4
    assert rule["success_rate"]["value"] > 0.4 > rand["success_rate"]["value"]


# ----------------------------------------------------------------------------- prompt


def test_prompt_trimmed_oldest_first_never_the_instruction(catalog):
    g = catalog.split("test")[0]
    episode = Shop(catalog).episode(g)
    turns = []
    for action in ("search[shampoo]", "click[next >]", "click[< prev]"):
        turns.append({"observation": episode.observation, "available_actions": episode.available_actions(),
                      "reply": f"Action: {action}"})
        episode.step(action)

    def words(messages):
        return sum(len(m["content"].split()) for m in messages)

    full = fit("agentbench", turns, episode.observation, episode.available_actions(), words, 10**6)
    assert full[0]["content"] == TASK_PROMPT and len(full) == 2 + 8 + 6 + 1
    budget = words(full) - 50
    trimmed = fit("agentbench", turns, episode.observation, episode.available_actions(), words, budget)
    assert words(trimmed) <= budget and trimmed[0]["content"] == TASK_PROMPT and len(trimmed) == len(full) - 2
    small = fit("agentbench", turns, episode.observation, episode.available_actions(), words, 60)
    assert len(small) == 1 and words(small) <= 60 and g["instruction"] in small[0]["content"]


# ----------------------------------------------------------------------------- files


def test_schema_errors_name_file_item_and_field(catalog, tmp_path):
    path = save_catalog(catalog, tmp_path / "catalog.json")
    assert load_catalog_file(path).digest() == catalog.digest()
    data = json.loads(path.read_text())
    del data["products"][3]["price"]
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=rf"{path}: product 3 \(.+\): missing field 'price'"):
        load_catalog_file(path)
    data = json.loads(save_catalog(catalog, tmp_path / "c2.json").read_text())
    data["goals"][1]["product_id"] = "B0NOPE"
    (tmp_path / "c2.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"goal 1 \(.+\): field 'product_id': product 'B0NOPE' is not in"):
        load_catalog_file(tmp_path / "c2.json")


def write_webshop_fixture(folder: Path) -> tuple[Path, Path, Path]:
    """Three products in WebShop's published formats (items_shuffle, items_ins_v2, items_human_ins)."""
    items = [
        {"asin": "B07PQFT83F", "name": "Gold Toe Men's Cotton Crew Socks, 6 Pair", "category": "fashion",
         "query": "men's socks", "product_category": "Clothing, Shoes & Jewelry › Men › Clothing › Socks",
         "pricing": "$18.99", "full_description": "Soft cotton crew socks.", "small_description":
             ["Cotton blend", "Machine wash"], "images": ["x.jpg"],
         "customization_options": {"Color": [{"value": "Black/Grey", "image": None}, {"value": "White"}],
                                   "Size": [{"value": "Shoe Size: 6-12.5"}]}},
        {"asin": "B09QKP7XQL", "name": "Herbal Essences Shampoo", "category": "beauty", "query": "shampoo",
         "product_category": "Beauty & Personal Care › Hair Care › Shampoo", "pricing": "$5.49 - $9.99",
         "full_description": "", "small_description": "Sulfate free", "images": [], "customization_options": None},
        {"asin": "nan", "name": "broken", "category": "x", "query": "x", "product_category": "x"},
    ]
    attributes = {"B07PQFT83F": {"attributes": ["cotton", "machine wash"], "instruction": "socks",
                                 "instruction_attributes": ["cotton"]},
                  "B09QKP7XQL": {"attributes": ["sulfate free"]}}
    human = {"B07PQFT83F": [{"asin": "B07PQFT83F", "instruction": "i want black cotton crew socks.",
                             "instruction_attributes": ["cotton"], "instruction_options": ["black | grey"]},
                            {"asin": "B07PQFT83F", "instruction": "no attributes", "instruction_attributes": []}],
             "B09QKP7XQL": [{"asin": "B09QKP7XQL", "instruction": "i need sulfate free shampoo",
                             "instruction_attributes": ["sulfate free"], "instruction_options": []}]}
    paths = folder / "items_shuffle_1000.json", folder / "items_ins_v2_1000.json", folder / "items_human_ins.json"
    for path, data in zip(paths, (items, attributes, human), strict=True):
        path.write_text(json.dumps(data))
    return paths


def test_webshop_schema_loader_reads_the_published_format(tmp_path):
    items, attrs, human = write_webshop_fixture(tmp_path)
    catalog = load_webshop(items, attrs, human, dev_share=0.5)
    assert [p["id"] for p in catalog.products] == ["B07PQFT83F", "B09QKP7XQL"]
    socks = catalog.by_id["B07PQFT83F"]
    assert socks["options"] == {"color": ["black | grey", "white"], "size": ["shoe size: 6-12.5"]}
    assert socks["price"] == 18.99 and catalog.by_id["B09QKP7XQL"]["price"] == 5.49
    assert len(catalog.goals) == 2 and {g["split"] for g in catalog.goals} == {"dev", "test"}
    sock_goal = next(g for g in catalog.goals if g["product_id"] == "B07PQFT83F")
    assert sock_goal["instruction"].startswith("i want black cotton crew socks, and price lower than")
    assert 18.99 < sock_goal["price_upper"] <= 60
    # The WebShop goal is playable: buying its product with its option scores 1.
    assert reward(socks, sock_goal, {"color": "black | grey"})[0] == 1.0
    synthetic = load_webshop(items, attrs)
    assert [g["instruction"].split(",")[0] for g in synthetic.goals] == ["socks"]


def test_webshop_loader_refuses_goal_without_product_and_bad_price(tmp_path):
    items, attrs, human = write_webshop_fixture(tmp_path)
    data = json.loads(human.read_text())
    data["B0MISSING0"] = [{"instruction": "x", "instruction_attributes": ["y"]}]
    human.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"product B0MISSING0: field 'asin': product 'B0MISSING0' is not in"):
        load_webshop(items, attrs, human)
    products = json.loads(items.read_text())
    products[1]["pricing"] = 9.99
    items.write_text(json.dumps(products))
    with pytest.raises(ConfigError, match=r"item 1 \(B09QKP7XQL\): field 'pricing'"):
        load_webshop(items, attrs)


# ----------------------------------------------------------------------------- runs


def test_resume_after_interruption_plays_only_missing_goals(catalog, tmp_path):
    goals = catalog.split("dev")[:12]
    path = tmp_path / "episodes.jsonl"

    second_chunk = {g["id"] for g in goals[5:10]}

    class Crashing(RuleAgent):
        def replies(self, states):
            if any(s.goal["id"] in second_chunk and s.turns for s in states):  # the runtime dies mid-chunk
                raise KeyboardInterrupt
            return super().replies(states)

    with pytest.raises(KeyboardInterrupt):
        run_episodes(Shop(catalog), goals, Crashing(), path, {"agent": "rule"}, batch_size=5, progress=False)
    assert len(path.read_text().splitlines()) == 5

    class Counting(RuleAgent):
        seen = set()

        def replies(self, states):
            Counting.seen.update(s.goal["id"] for s in states)
            return super().replies(states)

    resumed = run_episodes(Shop(catalog), goals, Counting(), path, {"agent": "rule"}, batch_size=5, progress=False)
    assert Counting.seen == {g["id"] for g in goals[5:]}
    fresh = run_episodes(Shop(catalog), goals, RuleAgent(), tmp_path / "fresh.jsonl", {"agent": "rule"},
                         batch_size=5, progress=False)
    assert [r["turns"] for r in resumed] == [r["turns"] for r in fresh]
    with pytest.raises(ConfigError, match="another run.*Refusing to mix"):
        run_episodes(Shop(catalog), goals, RuleAgent(), path, {"agent": "random"}, progress=False)


def test_evaluate_caches_baselines_and_merges_results(tmp_path):
    session = start("demo", str(tmp_path), 42, {"agent.goals": 12}, verbose=False)
    rule = evaluate_agent(session, "rule", progress=False)
    stamp = rule.path.stat().st_mtime_ns
    again = evaluate_agent(session, "rule", progress=False)
    assert again.path.stat().st_mtime_ns == stamp and again.summary == rule.summary
    evaluate_agent(session, "random", progress=False)
    rows = read_results(session)
    assert len(rows) == 8 and {r["model"] for r in rows} == {"rule baseline", "random baseline"}
    assert all(r["benchmark"] == "webshop" and "not comparable" in r["note"] for r in rows)
    reward_row = next(r for r in rows if r["model"] == "rule baseline" and r["metric"] == "reward")
    assert float(reward_row["ci_low"]) <= float(reward_row["value"]) <= float(reward_row["ci_high"])
    with pytest.raises(ConfigError, match="unknown agent 'greedy' \\(known: llm, rule, random\\)"):
        evaluate_agent(session, "greedy")
    with pytest.raises(ConfigError, match="unknown stage 'rlhf' \\(known: base, sft, dpo\\)"):
        evaluate_agent(session, "llm", "qwen2.5-3b", "rlhf")


def test_the_manifest_times_every_agent_of_a_session_and_adds_up_the_sessions(tmp_path, monkeypatch):
    from datetime import datetime, timedelta, timezone

    from sit.manifest import read_manifest

    ticks = iter(range(10_000))  # a clock that moves 10 s every time it is read

    def clock() -> str:
        return (datetime(2026, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=10 * next(ticks))).isoformat()

    monkeypatch.setattr("sit.manifest.now", clock)
    monkeypatch.setattr("sit.session.now", clock)
    monkeypatch.setattr("sit.agent.run.now", clock, raising=False)  # where an agent run once read the clock itself
    session = start("demo", str(tmp_path), 42, {"agent.goals": 4}, verbose=False)
    first = evaluate_agent(session, "rule", progress=False)
    manifest = read_manifest(first.path.parent.parent)
    began = manifest["started_at"]
    evaluate_agent(session, "random", progress=False)  # notebook 07's next agent: the manifest is written again
    manifest = read_manifest(first.path.parent.parent)
    assert manifest["started_at"] == began  # not the last agent's start
    run = manifest["runs"][session.run_id]
    assert run["started_at"] == began and run["finished_at"] == manifest["finished_at"] and run["seconds"] >= 30
    assert manifest["device"] in ("cpu", "cuda")
    later = start("demo", str(tmp_path), 42, {"agent.goals": 4}, verbose=False)  # a second notebook run
    evaluate_agent(later, "rule", progress=False)
    runs = read_manifest(first.path.parent.parent)["runs"]
    assert set(runs) == {session.run_id, later.run_id} and runs[session.run_id] == run


def test_the_results_table_is_the_same_whatever_order_the_agents_ran_in(tmp_path):
    tables = []
    for order in (("random", "rule"), ("rule", "random")):
        session = start("demo", str(tmp_path / "-".join(order)), 42, {"agent.goals": 12}, verbose=False)
        for agent in order:
            evaluate_agent(session, agent, progress=False)
        tables.append(results_path(session).read_text())
    assert tables[0] == tables[1]
    assert [line.split(",")[0] for line in tables[0].splitlines()[1:]] == ["random baseline"] * 4 + ["rule baseline"] * 4


def test_cli_runs_a_baseline_and_lists_agents(tmp_path):
    ok = subprocess.run([SIT, "agent", "--agent", "rule", "--goals", "5", "--workspace", str(tmp_path), "--quiet",
                         "--profile", "demo"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "evaluation/agent/episodes/rule-test.jsonl").read_text().count("\n") == 5
    bad = subprocess.run([SIT, "agent", "--agent", "smart", "--workspace", str(tmp_path), "--profile", "demo"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "known: llm, rule, random" in bad.stderr


def test_toy_conversations_use_train_goals_and_the_demo_page_size(catalog):
    assert load_profile("demo")["agent"]["results_per_page"] == TOY_RESULTS_PER_PAGE
    conversations = toy_conversations(42)
    assert conversations == toy_conversations(42)
    held_out = {g["instruction"] for g in catalog.goals if g["split"] != "train"}
    users = [c[0]["content"] for c in conversations]
    assert not any(text in user for user in users for text in held_out)
    assert all(extract_action(c[-1]["content"]) for c in conversations)
    assert {c[0]["role"] for c in conversations} == {"user"} and len(conversations) > 1000
