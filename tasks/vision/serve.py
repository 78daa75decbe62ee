"""POST /v1/vision/classify, image files (multipart, field `images`) or JSON {"images":
[base64, ...]}: each image's label, probability and top 5."""

from tasks.common.serving import Images

ROUTE = "classify"
ITEMS = "images"
Body = Images


def inputs(body: Images, served, api, limits) -> list:
    from tasks.common.images import decode_image, in_memory

    formats = tuple(served.record["params"]["ingest"]["formats"])  # what it was trained on
    return [
        decode_image(in_memory(image.data, f"images.{row} ({image.name})"), "RGB", limits, formats)
        for row, image in enumerate(body.images)
    ]
