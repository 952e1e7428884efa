# daybook image: the official Airflow 3.3 image plus the locked dependencies and the package.
FROM apache/airflow:3.3.2-python3.11
COPY --chown=airflow:root requirements.lock pyproject.toml /opt/daybook/
COPY --chown=airflow:root include /opt/daybook/include
COPY --chown=airflow:root sql /opt/daybook/sql
COPY --chown=airflow:root config /opt/daybook/config
RUN pip install --no-cache-dir -r /opt/daybook/requirements.lock \
 && pip install --no-cache-dir --no-deps -e /opt/daybook
COPY --chown=airflow:root dags /opt/airflow/dags
COPY --chown=airflow:root plugins /opt/airflow/plugins
