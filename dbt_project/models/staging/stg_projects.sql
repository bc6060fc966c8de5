-- Raw `projects` typed: Airbyte lands ids as numbers and timestamps as strings and adds its
-- `_airbyte_*` columns; the built-in loader lands them typed, and these casts change nothing.
-- With `window_start` and `window_end` (a run's months, from Dagster's partitions), only the
-- projects created in [window_start, window_end).
with typed as (
    select
        cast(id as {{ dbt.type_bigint() }}) as id,
        cast(created_on as {{ dbt.type_timestamp() }}) as created_on,
        cast(title as {{ dbt.type_string() }}) as title,
        cast(description as {{ dbt.type_string() }}) as description
    from {{ source('madewithml', 'projects') }}
)
select * from typed
{% if var('window_start', none) is not none %}
where created_on >= cast('{{ var("window_start") }}' as {{ dbt.type_timestamp() }})
    and created_on < cast('{{ var("window_end") }}' as {{ dbt.type_timestamp() }})
{% endif %}
