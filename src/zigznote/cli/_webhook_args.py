"""Arguments and option aliases shared by the `webhooks` command modules."""

from __future__ import annotations

from typing import Annotated

import typer

WebhookRef = Annotated[str, typer.Argument(metavar="WEBHOOK", help="Webhook ID (wh_…) or its unique name.")]
DeliveryRef = Annotated[str, typer.Argument(metavar="DELIVERY", help="Delivery ID (msg_…), of any kind.")]
Headers = Annotated[
    list[str] | None,
    typer.Option("--header", "-H", metavar="'NAME: VALUE'", help="Custom header sent with every delivery (repeat)."),
]
AllowHttp = Annotated[
    bool, typer.Option("--allow-http", help="Accept a plain http:// URL (the address must still be public).")
]
MaxConcurrency = Annotated[
    int | None,
    typer.Option(
        "--max-concurrency",
        metavar="N",
        help="Never more than N requests in flight to this endpoint (1-10000; default: the engine adapts).",
    ),
]
RateLimit = Annotated[
    str | None,
    typer.Option(
        "--rate-limit",
        metavar="N/s",
        help="At most N requests per second (also N/m, N/h; default: no limit).",
    ),
]
