"""POST /v1/medical/screen, PNG/JPEG/DICOM files (multipart, field `images`) or JSON
{"images": [base64, ...]}: each scan's calibrated probability and its label at the registered
threshold."""

from tasks.common.serving import Images

ROUTE = "screen"
ITEMS = "images"
Body = Images


def inputs(body: Images, served, api, limits) -> list:
    from tasks.common.images import in_memory
    from tasks.medical.inputs import read_scan, trained_window

    window, mode = trained_window(served.record), served.predictor.mode
    return [
        read_scan(in_memory(image.data, f"images.{row} ({image.name})"), window, limits, mode)
        for row, image in enumerate(body.images)
    ]
