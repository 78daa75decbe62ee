"""Neural collaborative filtering on implicit feedback, from interactions to top-K lists."""

# What dvc.yaml says of this domain beyond the shared stages (flows/layout.py writes it).
MODEL = "NeuMF recommender, with its id maps and known interactions"
PLOTS = {
    "hr_at_k.csv": {
        "x": "k",
        "y": ["neumf", "popularity"],
        "title": "recsys HR@K, NeuMF against popularity",
    },
}
