# The hub, as a newcomer runs it: `npm ci` (npm install, exactly as package-lock.json says),
# then `npm start`. compose.yaml runs three of these behind nginx; see the README's
# "Running several replicas".
#
# The full Debian image rather than -slim: it has python3, make and g++, which better-sqlite3
# falls back to when no prebuilt binary matches.
FROM node:20-bookworm

# A container is reached from outside itself (the load balancer), so the hub listens on every
# interface; its data directory (this replica's usage journal) is a volume.
ENV BAIMO_HOST=0.0.0.0 \
    BAIMO_DATA_DIR=/data \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_FUND=false

# Not root: /app must be the node user's because `npm start` compiles into dist/ at every start,
# and /data must exist owned by it so that a named volume mounted there starts out writable.
WORKDIR /app
RUN chown node:node /app && mkdir /data && chown node:node /data
USER node

# One layer for sources and install: `npm ci` runs the `prepare` script, which compiles src/
# and builds the console from web/, so it needs them present.
COPY --chown=node:node . .
RUN npm ci

EXPOSE 4000
CMD ["npm", "start"]
