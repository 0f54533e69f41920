{#
    The start of the earliest session that ended at or after `since`, from the last build's
    sessions: an incremental rebuild must start no later than that (a session still going then
    may be extended by the new events, or carry a label that looks at them). One row; null when
    no session ended that late. Rendered by pipeline.warehouse.incremental.rebuild_start.

    table  gold.fact_user_sessions
    since  a UTC instant, 'YYYY-MM-DD HH:MM:SS'
#}
select min(session_start) as session_start
from {{ table }}
where session_end >= {{ utc_timestamp_literal(since) }}
