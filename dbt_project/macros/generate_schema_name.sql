-- Write-audit-publish: every model is built (and tested) in `build_schema`, the warehouse's
-- staging schema; Dagster publishes it into the warehouse schema only once every check passed.
-- A bare `dbt build` from this folder, without the variable, builds in the target's schema.
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ var('build_schema', target.schema) }}
{%- endmacro %}
