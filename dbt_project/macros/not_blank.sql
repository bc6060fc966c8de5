-- A generic test: no value of the column is an empty or all-space string. A null passes (the
-- not_null test speaks for nulls); a blank label is a labeling fault that no raw suite can see,
-- since it is a string like any other.
{% test not_blank(model, column_name) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null and trim({{ column_name }}) = ''
{% endtest %}
