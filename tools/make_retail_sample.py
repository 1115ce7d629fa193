"""Write data/samples/retail_sample.csv: a small, seeded, made-up retail purchase log.

    python -m tools.make_retail_sample            # rewrites data/samples/retail_sample.csv
    python -m tools.make_retail_sample OUT.csv

It stands in for an analyst's own file in the tests and the lessons: text ids
("C-1001", "P-0101"), a ``quantity`` instead of a star rating, ISO 8601 times, a product
name and a category, one row per (customer, product) pair. The numbers are invented,
not a real shop's: each customer favours one category, and products are more or less
popular, so that a recommender has something to learn. The same seed gives the same
bytes; tests/test_interactions.py checks that the committed file is this script's
output.
"""
import sys
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent.parent / "data" / "samples" / "retail_sample.csv"
SEED = 2024
N_CUSTOMERS = 60
# (category, product names); a product id is P-<category number><product number>.
CATALOGUE = [
    ("Coffee", ["Espresso beans 1kg", "Filter coffee 500g", "Decaf beans 250g",
                "Cold brew bottle", "Coffee pods x30", "Single origin Kenya"]),
    ("Tea", ["Green tea x40", "Earl Grey x50", "Chamomile x20", "Matcha tin",
             "Rooibos loose 200g"]),
    ("Kitchen", ["Ceramic mug", "Travel mug", "French press", "Milk frother",
                 "Tea infuser", "Burr grinder"]),
    ("Snacks", ["Almond biscotti", "Dark chocolate bar", "Oat cookies", "Granola 750g",
                "Salted pretzels"]),
    ("Drinks", ["Oat milk 1l", "Sparkling water x6", "Lemonade 1l", "Hot chocolate mix"]),
]


def make(seed=SEED):
    """The sample as a DataFrame (rows in time order, like a shop's log)."""
    rng = np.random.default_rng(seed)
    products = [(f"P-{c + 1}{p + 1:02d}", name, category)
                for c, (category, names) in enumerate(CATALOGUE) for p, name in enumerate(names)]
    ids, names, categories = map(np.array, zip(*products))
    popularity = 1.0 / np.arange(1, len(ids) + 1) ** 0.8  # a long tail...
    popularity = popularity[rng.permutation(len(ids))]     # ...over a shuffled catalogue
    start = pd.Timestamp("2024-01-01")
    rows = []
    for customer in range(N_CUSTOMERS):
        favourite = rng.integers(len(CATALOGUE))
        weights = popularity * np.where(categories == CATALOGUE[favourite][0], 4.0, 1.0)
        n = int(rng.integers(4, 13))
        bought = rng.choice(len(ids), size=n, replace=False, p=weights / weights.sum())
        # Distinct minutes within 2024, so every customer's purchases have an order.
        minutes = np.sort(rng.choice(366 * 24 * 60, size=n, replace=False))
        quantity = np.minimum(rng.geometric(0.55, size=n), 6)
        for item, minute, q in zip(bought, minutes, quantity):
            rows.append((f"C-{1001 + customer}", ids[item], names[item], categories[item],
                         int(q), (start + pd.Timedelta(minutes=int(minute))).isoformat(sep=" ")))
    frame = pd.DataFrame(rows, columns=["customer_id", "product_id", "product_name",
                                        "category", "quantity", "ts"])
    return frame.sort_values("ts", kind="stable").reset_index(drop=True)


def write(path=OUT, seed=SEED):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    make(seed).to_csv(path, index=False, lineterminator="\n")
    return path


if __name__ == "__main__":
    print(write(*sys.argv[1:2]))
