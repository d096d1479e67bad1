"""Job `finnhub_ingest` and its keeper sensor: Finnhub websocket -> Kafka `market`."""

import dagster as dg
from pydantic import Field

from stock_platform.defs.finnhub.resources import FinnhubResource
from stock_platform.defs.kafka.market import MARKET_KEY, market_metadata
from stock_platform.defs.kafka.resources import KafkaResource
from stock_platform.defs.keeper import build_keeper_sensor, long_run_tags
from stock_platform.defs.provenance import run_provenance
from stock_platform.finnhub.websocket import FinnhubAuthError, FinnhubStream
from stock_platform.ingest.frames import FrameHandler
from stock_platform.ingest.runner import IngestIntervalReport, WindowSettings, run_ingest_window
from stock_platform.kafka.admin import KafkaUnavailableError
from stock_platform.kafka.producer import DeliveryFailedError

INGEST_JOB_NAME = "finnhub_ingest"


class IngestConfig(dg.Config):
    """How long one run ingests before it exits for the keeper to relaunch it, and how often it reports."""

    window_minutes: float = Field(default=60.0, description="Bounded window; 0 means run until terminated.")
    report_interval_seconds: float = Field(default=30.0, description="How often `market` gets an event.")


@dg.op(description="Streams Finnhub trades into Kafka until the window ends or the run is terminated.")
def ingest_trades(
    context: dg.OpExecutionContext, config: IngestConfig, finnhub: FinnhubResource, kafka: KafkaResource
) -> None:
    try:
        stream = FinnhubStream(finnhub.stream_settings())
        created = kafka.ensure_topics()
    except (ValueError, KafkaUnavailableError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    if created:
        context.log.info(f"Created Kafka topics {created}")
    with kafka.producer() as producer:
        handler = FrameHandler(
            producer,
            kafka.market_topic,
            kafka.dead_letter_topic,
            source=finnhub.source_name(),
            max_message_bytes=int(kafka.settings().producer_config()["message.max.bytes"]),
        )

        provenance = run_provenance(context)

        def report(interval: IngestIntervalReport) -> None:
            metadata = market_metadata(interval, producer.offset_ranges, provenance)
            context.log_event(dg.AssetMaterialization(MARKET_KEY, metadata=metadata))

        settings = WindowSettings(
            report_interval_s=config.report_interval_seconds,
            window_s=config.window_minutes * 60 if config.window_minutes > 0 else None,
        )
        try:
            totals = run_ingest_window(stream, handler, producer, settings, report)
        except FinnhubAuthError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None
        except DeliveryFailedError as error:
            # One line naming the broker; the keeper relaunches the run (backing off) until Kafka is back.
            raise dg.Failure(description=f"Kafka at {kafka.bootstrap_servers}: {error}", allow_retries=False) from None
    context.log.info(f"Ingest window finished: {totals.handler.trades} trades, {totals.handler.dead_letters} dead letters")


@dg.job(
    name=INGEST_JOB_NAME,
    tags=long_run_tags(INGEST_JOB_NAME),
    description="Long-running Finnhub websocket ingest into Kafka topic `market` (kept alive by its keeper sensor).",
)
def finnhub_ingest() -> None:
    ingest_trades()


finnhub_ingest_keeper = build_keeper_sensor(finnhub_ingest, "finnhub_ingest_keeper")
