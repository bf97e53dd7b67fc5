{#- Every key of an Amplitude Export API / S3 event record (the documented superset), with
    how staging reads it: 'text' (scalars, cast later) or 'json' (objects kept as JSON). -#}
{% macro lpa_amplitude_event_fields() -%}
    {{ return({
        '$insert_id': 'text', '$insert_key': 'text', '$schema': 'text', 'adid': 'text',
        'amplitude_attribution_ids': 'json', 'amplitude_event_type': 'text',
        'amplitude_id': 'text', 'app': 'text', 'city': 'text', 'client_event_time': 'text',
        'client_upload_time': 'text', 'country': 'text', 'data': 'json', 'data_type': 'text',
        'device_brand': 'text', 'device_carrier': 'text', 'device_family': 'text',
        'device_id': 'text', 'device_manufacturer': 'text', 'device_model': 'text',
        'device_type': 'text', 'dma': 'text', 'event_id': 'text', 'event_properties': 'json',
        'event_time': 'text', 'event_type': 'text', 'global_user_properties': 'json',
        'group_properties': 'json', 'groups': 'json', 'idfa': 'text', 'ip_address': 'text',
        'is_attribution_event': 'text', 'language': 'text', 'library': 'text',
        'location_lat': 'text', 'location_lng': 'text', 'os_name': 'text',
        'os_version': 'text', 'partner_id': 'text', 'paying': 'text', 'plan': 'json',
        'platform': 'text', 'processed_time': 'text', 'region': 'text',
        'sample_rate': 'text', 'server_received_time': 'text',
        'server_upload_time': 'text', 'session_id': 'text', 'source_id': 'text',
        'start_version': 'text', 'user_creation_time': 'text', 'user_id': 'text',
        'user_properties': 'json', 'uuid': 'text', 'version_name': 'text'
    }) }}
{%- endmacro %}

{% macro lpa_amplitude_merge_id_fields() -%}
    {{ return({
        'scope': 'text', 'merge_time': 'text', 'merge_event_time': 'text',
        'merge_server_time': 'text', 'amplitude_id': 'text', 'merged_amplitude_id': 'text'
    }) }}
{%- endmacro %}

{#- Stable key of one raw line: which file, which content. Identical lines in one file share
    it; the quarantine model adds an occurrence number. -#}
{% macro lpa_source_row_key(file_column, content_expr) -%}
    {{ dbt.hash(dbt.concat([file_column, "'|'", content_expr])) }}
{%- endmacro %}

{#- The empty string and whitespace are no value. -#}
{% macro lpa_nullif_blank(text_expr) -%}
    nullif(trim({{ text_expr }}), '')
{%- endmacro %}
