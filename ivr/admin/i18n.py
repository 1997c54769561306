"""The admin's interface texts, Italian and English, in one small catalogue.

One dict per key with both languages side by side, so a missing translation is visible in the
diff that adds the key (and a test checks every key used by a template exists in both). Texts
are plain; ``{name}`` placeholders are filled with ``str.format``. The city's own texts (prompts,
department names) are not here: they come from the dialplan and ``prompts/``.
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("it", "en")

TEXTS: dict[str, dict[str, str]] = {
    "app_name": {"it": "Numero Unico · gestione", "en": "Numero Unico · admin"},
    "skip_to_content": {"it": "Vai al contenuto", "en": "Skip to content"},
    "main_navigation": {"it": "Navigazione principale", "en": "Main navigation"},
    "interface_language": {"it": "Lingua", "en": "Language"},
    "ok": {"it": "OK", "en": "OK"},
    "failed": {"it": "non riuscito", "en": "failed"},
    "logout": {"it": "Esci", "en": "Log out"},
    "login": {"it": "Accedi", "en": "Log in"},
    "username": {"it": "Nome utente", "en": "User name"},
    "password": {"it": "Password", "en": "Password"},
    "bad_login": {"it": "Nome utente o password errati.", "en": "Wrong user name or password."},
    "too_many_logins": {
        "it": "Troppi tentativi falliti: riprova tra qualche minuto.",
        "en": "Too many failed attempts: try again in a few minutes.",
    },
    "csrf_refused": {
        "it": "Modulo scaduto o non valido (token di sicurezza mancante). Ricarica la pagina.",
        "en": "Form expired or invalid (security token missing). Reload the page.",
    },
    "error_400": {"it": "Richiesta non valida", "en": "Bad request"},
    "error_401": {"it": "Accesso richiesto", "en": "Please log in"},
    "error_403": {"it": "Non hai i permessi per questa pagina", "en": "You may not do this"},
    "error_404": {"it": "Pagina non trovata", "en": "Not found"},
    "error_409": {"it": "Non possibile ora", "en": "Not possible now"},
    "error_413": {"it": "Testo troppo lungo", "en": "Too much text"},
    "error_429": {"it": "Troppe richieste", "en": "Too many requests"},
    "back_home": {"it": "Torna alla pagina iniziale", "en": "Back to the start page"},
    "role_admin": {"it": "amministratore", "en": "administrator"},
    "role_editor": {"it": "redattore", "en": "editor"},
    "role_viewer": {"it": "lettore", "en": "viewer"},
    "role_operator": {"it": "operatore", "en": "operator"},
    "nav_flow": {"it": "Percorso chiamate", "en": "Call flow"},
    "nav_simulate": {"it": "Chiamata di prova", "en": "Test call"},
    "nav_publish": {"it": "Pubblica", "en": "Publish"},
    "nav_versions": {"it": "Versioni", "en": "Versions"},
    "nav_departments": {"it": "Uffici e orari", "en": "Departments & hours"},
    "nav_prompts": {"it": "Messaggi", "en": "Prompts"},
    "nav_live": {"it": "In diretta", "en": "Live"},
    "nav_directory": {"it": "Rubrica", "en": "Directory"},
    "nav_users": {"it": "Utenti", "en": "Users"},
    "nav_audit": {"it": "Registro modifiche", "en": "Audit log"},
    "nav_service_levels": {"it": "Livelli di servizio", "en": "Service levels"},
    "home": {"it": "Inizio", "en": "Home"},
    "live_version": {"it": "Versione in linea", "en": "Live version"},
    "draft": {"it": "Bozza", "en": "Draft"},
    "last_change_by": {
        "it": "Ultima modifica di {who}, {when} UTC",
        "en": "Last changed by {who}, {when} UTC",
    },
    "draft_differs": {
        "it": "La bozza contiene modifiche non ancora pubblicate.",
        "en": "The draft has changes that are not live yet.",
    },
    "draft_same": {"it": "La bozza è uguale alla versione in linea.", "en": "The draft is live."},
    "switches": {"it": "Interruttori notte/emergenza", "en": "Night/emergency switches"},
    "switches_on": {"it": "Interruttori accesi", "en": "Switches on"},
    "no_switch_on": {"it": "Nessun interruttore acceso.", "en": "No switch is on."},
    "recent_publications": {"it": "Pubblicazioni recenti", "en": "Recent publications"},
    "action_publish": {"it": "pubblicazione", "en": "publish"},
    "action_rollback": {"it": "ripristino", "en": "rollback"},
    "action_import": {"it": "importazione", "en": "import"},
    "problems_found": {"it": "{n} problemi da correggere", "en": "{n} problem(s) to fix"},
    "draft_valid": {
        "it": "Nessun problema: la bozza può essere pubblicata.",
        "en": "No problems: the draft can be published.",
    },
    "diff": {"it": "Differenze", "en": "Differences"},
    "no_differences": {"it": "Nessuna differenza.", "en": "No differences."},
    "publish_ok": {"it": "Versione v{id} in linea", "en": "Version v{id} is live"},
    "publish_failed": {"it": "Pubblicazione non riuscita", "en": "Publication failed"},
    "publish_time": {"it": "Tempo: {s} s", "en": "Time: {s} s"},
    "files_changed": {"it": "File Asterisk cambiati", "en": "Asterisk files changed"},
    "flow_title": {"it": "Percorso delle chiamate (bozza)", "en": "Call flow (draft)"},
    "edit_yaml": {"it": "Modifica YAML", "en": "Edit YAML"},
    "diff_vs_live": {"it": "Differenze dalla versione in linea", "en": "Changes against live"},
    "flow_picture": {"it": "Schema del percorso", "en": "Picture of the flow"},
    "nodes": {"it": "Passi", "en": "Nodes"},
    "node": {"it": "Passo", "en": "Node"},
    "type": {"it": "Tipo", "en": "Type"},
    "goes_to": {"it": "Porta a", "en": "Goes to"},
    "start": {"it": "inizio", "en": "start"},
    "add_node": {"it": "Aggiungi un passo", "en": "Add a node"},
    "node_id": {"it": "Nome del passo", "en": "Node name"},
    "add": {"it": "Aggiungi", "en": "Add"},
    "reset_draft": {
        "it": "Annulla la bozza (torna alla versione in linea)",
        "en": "Discard the draft (back to the live version)",
    },
    "draft_reset_done": {"it": "Bozza annullata.", "en": "Draft discarded."},
    "saved": {"it": "Salvato nella bozza.", "en": "Saved in the draft."},
    "deleted": {"it": "Eliminato dalla bozza.", "en": "Deleted from the draft."},
    "problems_in_node": {"it": "Problemi in questo passo", "en": "Problems in this node"},
    "node_ok": {"it": "Nessun problema in questo passo.", "en": "No problem in this node."},
    "other_problems": {"it": "{n} problemi altrove", "en": "{n} problem(s) elsewhere"},
    "prompt_key": {"it": "Messaggio (chiave)", "en": "Prompt (key)"},
    "prompt_keys": {
        "it": "Messaggi (chiavi, separate da spazi)",
        "en": "Prompts (keys, separated by spaces)",
    },
    "options_by_key": {"it": "Scelte per tasto", "en": "Choices by key"},
    "options_hint_menu": {
        "it": "Per ogni tasto, il passo a cui porta (vuoto: tasto non usato).",
        "en": "For each key, the node it leads to (empty: key not used).",
    },
    "options_hint_language": {
        "it": "Per ogni tasto, la lingua scelta (codice di due lettere).",
        "en": "For each key, the language it chooses (two-letter code).",
    },
    "key_label": {"it": "Tasto {key}", "en": "Key {key}"},
    "repeat_key": {"it": "Tasto per riascoltare", "en": "Key to hear it again"},
    "next_node": {"it": "Passo successivo", "en": "Next node"},
    "retries": {"it": "Tentativi prima dell'operatore", "en": "Attempts before the operator"},
    "timeout_ms": {"it": "Attesa del tasto (ms)", "en": "Wait for a key (ms)"},
    "department": {"it": "Ufficio", "en": "Department"},
    "when_open": {"it": "Se aperto, vai a", "en": "When open, go to"},
    "when_closed": {"it": "Se chiuso, dopo gli orari vai a", "en": "When closed, after the hours"},
    "transfer_prompt": {
        "it": "Messaggio prima del trasferimento (vuoto: nessuno)",
        "en": "Message before the transfer (empty: none)",
    },
    "no_form_for_kind": {
        "it": "Questo tipo di passo si modifica in YAML.",
        "en": "This kind of node is edited as YAML.",
    },
    "node_yaml": {"it": "Il passo in YAML", "en": "The node as YAML"},
    "save_draft": {"it": "Salva nella bozza", "en": "Save to draft"},
    "save": {"it": "Salva", "en": "Save"},
    "delete_node": {"it": "Elimina questo passo", "en": "Delete this node"},
    "yaml_hint": {
        "it": "Per utenti esperti. Il testo viene controllato mentre scrivi, con gli stessi "
        "messaggi di «ivr dialplan check».",
        "en": "For power users. The text is checked as you type, with the same messages as "
        "'ivr dialplan check'.",
    },
    "draft_yaml": {"it": "Bozza (YAML)", "en": "Draft (YAML)"},
    "simulate_title": {"it": "Chiamata di prova sulla bozza", "en": "Test call on the draft"},
    "simulate_hint": {
        "it": "Lo stesso motore delle chiamate vere, sulla bozza. Premi i tasti come farebbe "
        "chi chiama e guarda il percorso, i messaggi e i trasferimenti.",
        "en": "The same engine as real calls, on the draft. Press keys like a caller would "
        "and watch the path, the prompts and the transfers.",
    },
    "draft_has_problems": {
        "it": "La bozza ha {n} problemi: la prova può fermarsi.",
        "en": "The draft has {n} problem(s): the test may stop short.",
    },
    "see_problems": {"it": "Vedi i problemi", "en": "See the problems"},
    "sim_when": {"it": "Data e ora simulate", "en": "Simulated date and time"},
    "sim_language": {"it": "Lingua iniziale", "en": "Starting language"},
    "sim_lang_default": {"it": "predefinita ({lang})", "en": "default ({lang})"},
    "sim_live_switches": {
        "it": "applica gli interruttori accesi ora",
        "en": "apply the switches on now",
    },
    "new_call": {"it": "Nuova chiamata", "en": "New call"},
    "the_call": {"it": "La chiamata", "en": "The call"},
    "missing": {"it": "manca", "en": "missing"},
    "said_by_asterisk": {"it": "detto da Asterisk ({kind})", "en": "said by Asterisk ({kind})"},
    "path": {"it": "Percorso", "en": "Path"},
    "language": {"it": "Lingua", "en": "Language"},
    "keypad": {"it": "Tastiera del telefono", "en": "Phone keypad"},
    "type_keys": {"it": "Digita fino a {n} tasti", "en": "Type up to {n} keys"},
    "send": {"it": "Invia", "en": "Send"},
    "caller_says": {"it": "Chi chiama dice", "en": "The caller says"},
    "say": {"it": "Di'", "en": "Say"},
    "silence": {"it": "Silenzio (nessun tasto)", "en": "Silence (no key)"},
    "heard_to_end": {"it": "Ascoltato fino alla fine", "en": "Heard to the end"},
    "prompt_fails": {"it": "Il messaggio non si riproduce", "en": "The prompt fails to play"},
    "service_value": {"it": "Risposta del servizio (JSON)", "en": "Service answer (JSON)"},
    "service_error": {"it": "oppure errore", "en": "or error"},
    "answer": {"it": "Rispondi", "en": "Answer"},
    "to_operator": {"it": "Passa all'operatore", "en": "Hand to the operator"},
    "call_ended": {"it": "La chiamata è finita.", "en": "The call has ended."},
    "undo": {"it": "Annulla l'ultima mossa", "en": "Undo the last move"},
    "publish_title": {"it": "Pubblica la bozza", "en": "Publish the draft"},
    "publish_note": {"it": "Nota (cosa cambia e perché)", "en": "Note (what changes and why)"},
    "publish_button": {"it": "Pubblica ora", "en": "Publish now"},
    "publish_blocked": {
        "it": "Correggi i problemi prima di pubblicare.",
        "en": "Fix the problems before publishing.",
    },
    "nothing_to_publish": {
        "it": "La bozza è già in linea.",
        "en": "The draft is already live.",
    },
    "version": {"it": "Versione", "en": "Version"},
    "when": {"it": "Quando", "en": "When"},
    "author": {"it": "Autore", "en": "Author"},
    "note": {"it": "Nota", "en": "Note"},
    "actions": {"it": "Azioni", "en": "Actions"},
    "action": {"it": "Azione", "en": "Action"},
    "live": {"it": "in linea", "en": "live"},
    "restore": {"it": "Ripristina", "en": "Restore"},
    "to_draft": {"it": "Copia nella bozza", "en": "Copy to draft"},
    "draft_from_version_done": {
        "it": "La bozza ora è la versione v{id}.",
        "en": "The draft is now version v{id}.",
    },
    "publication_log": {"it": "Registro delle pubblicazioni", "en": "Publication log"},
    "who": {"it": "Chi", "en": "Who"},
    "outcome": {"it": "Esito", "en": "Outcome"},
    "departments_title": {"it": "Uffici, orari e calendario", "en": "Departments, hours, calendar"},
    "switch_hint": {
        "it": "Un interruttore chiude subito l'ufficio (o tutta la città), qualunque sia "
        "l'orario: per la notte o un'emergenza. Vale dalla chiamata successiva.",
        "en": "A switch closes the department (or the whole city) at once, whatever the hours: "
        "for the night or an emergency. It applies from the next call.",
    },
    "callers_hear": {"it": "Chi chiama sente", "en": "Callers hear"},
    "the_hours": {"it": "gli orari dell'ufficio", "en": "the department's hours"},
    "edit_message": {"it": "Modifica il messaggio", "en": "Edit the message"},
    "queue": {"it": "Coda", "en": "Queue"},
    "now": {"it": "Adesso", "en": "Now"},
    "switch": {"it": "Interruttore", "en": "Switch"},
    "whole_city": {"it": "Tutta la città", "en": "Whole city"},
    "closed_by_switch": {"it": "chiuso da interruttore", "en": "closed by switch"},
    "switch_on": {"it": "Chiudi ora", "en": "Close now"},
    "switch_off": {"it": "Riapri", "en": "Reopen"},
    "on": {"it": "acceso", "en": "on"},
    "off": {"it": "spento", "en": "off"},
    "open": {"it": "aperto", "en": "open"},
    "closed": {"it": "chiuso", "en": "closed"},
    "reason_hours": {"it": "orario", "en": "hours"},
    "reason_outside_hours": {"it": "fuori orario", "en": "outside hours"},
    "reason_holiday": {"it": "festivo", "en": "holiday"},
    "reason_closure": {"it": "chiusura", "en": "closure"},
    "reason_switch": {"it": "interruttore", "en": "switch"},
    "switch_done": {"it": "Interruttore {target}: {state}.", "en": "Switch {target}: {state}."},
    "switch_failed": {
        "it": "Interruttore non cambiato: {error}",
        "en": "Switch not changed: {error}",
    },
    "draft_departments": {"it": "Uffici nella bozza", "en": "Departments in the draft"},
    "new_department_id": {"it": "Nuovo ufficio (id)", "en": "New department (id)"},
    "names": {"it": "Nomi", "en": "Names"},
    "name_in": {"it": "Nome ({lang})", "en": "Name ({lang})"},
    "weekly_hours": {"it": "Orario settimanale", "en": "Weekly hours"},
    "hours_hint": {
        "it": "Una riga per gruppo di giorni, es. «mon-fri: 08:30-12:30, 14:00-16:00»; "
        "oppure «always».",
        "en": "One line per group of days, e.g. 'mon-fri: 08:30-12:30, 14:00-16:00'; or 'always'.",
    },
    "holidays": {"it": "Festivi", "en": "Holidays"},
    "closed_on_holidays": {"it": "chiuso nei festivi", "en": "closed on holidays"},
    "open_on_holidays": {"it": "aperto nei festivi", "en": "open on holidays"},
    "closures": {"it": "Chiusure straordinarie", "en": "Closures"},
    "closures_hint": {
        "it": "Una per riga: data, fascia facoltativa e motivo, es. «2026-12-24 13:00- Vigilia».",
        "en": "One per line: date, optional time range and reason, e.g. "
        "'2026-12-24 13:00- Christmas Eve'.",
    },
    "prompts_title": {"it": "Messaggi in ogni lingua", "en": "Prompts in every language"},
    "prompts_missing": {
        "it": "{n} messaggi mancanti: la pubblicazione è bloccata finché mancano.",
        "en": "{n} missing prompt(s): publishing is blocked until they are written.",
    },
    "prompts_complete": {
        "it": "Tutti i messaggi usati esistono in ogni lingua.",
        "en": "Every prompt in use exists in every language.",
    },
    "audio_built": {"it": "Audio generato", "en": "Audio generated"},
    "build_audio": {"it": "Genera l'audio", "en": "Generate the audio"},
    "build_audio_hint": {
        "it": "Solo i messaggi cambiati vengono rigenerati.",
        "en": "Only changed prompts are generated again.",
    },
    "key": {"it": "Chiave", "en": "Key"},
    "generated": {"it": "generato dagli orari", "en": "generated from the hours"},
    "generated_hint": {
        "it": "Questo testo è generato dagli orari dell'ufficio: cambia gli orari.",
        "en": "This text is generated from the department's hours: change the hours.",
    },
    "not_used": {"it": "non usato", "en": "not used"},
    "no_audio": {"it": "audio da generare", "en": "audio not generated"},
    "new_prompt_key": {"it": "Nuovo messaggio (chiave)", "en": "New prompt (key)"},
    "bad_prompt_key": {
        "it": "Chiave non valida: lettere minuscole, cifre, _ o -.",
        "en": "Invalid key: lowercase letters, digits, _ or -.",
    },
    "prompt": {"it": "Messaggio", "en": "Prompt"},
    "text_in": {"it": "Testo ({lang})", "en": "Text ({lang})"},
    "live_title": {"it": "In diretta", "en": "Live"},
    "calls_in_ivr": {"it": "chiamate nel risponditore", "en": "calls in the IVR"},
    "channels": {"it": "canali attivi", "en": "active channels"},
    "waiting": {"it": "In attesa", "en": "Waiting"},
    "longest_wait": {"it": "Attesa massima", "en": "Longest wait"},
    "operators": {"it": "Operatori", "en": "Operators"},
    "available": {"it": "Liberi", "en": "Available"},
    "state": {"it": "Stato", "en": "State"},
    "paused": {"it": "in pausa", "en": "paused"},
    "sat_ok": {"it": "regolare", "en": "normal"},
    "sat_busy": {"it": "carico", "en": "busy"},
    "sat_saturated": {"it": "saturo", "en": "saturated"},
    "sat_unstaffed": {"it": "senza operatori", "en": "unstaffed"},
    "none": {"it": "nessuno", "en": "none"},
    "live_hint": {
        "it": "Dati letti da Asterisk; la pagina si aggiorna da sola ogni 5 secondi.",
        "en": "Read from Asterisk; the page refreshes itself every 5 seconds.",
    },
    "service_levels_title": {
        "it": "Livelli di servizio e obiettivi italiani",
        "en": "Service levels against the Italian targets",
    },
    "period_from": {"it": "Dal", "en": "From"},
    "period_to": {"it": "Al (compreso)", "en": "To (included)"},
    "show": {"it": "Mostra", "en": "Show"},
    "period_shown": {
        "it": "Chiamate dal {first} al {last} ({zone})",
        "en": "Calls from {first} to {last} ({zone})",
    },
    "bad_date": {
        "it": "Data non valida: usa il formato AAAA-MM-GG.",
        "en": "Invalid date: use the YYYY-MM-DD format.",
    },
    "from_after_to": {
        "it": "La data di inizio è successiva alla data di fine.",
        "en": "The start date is after the end date.",
    },
    "period_too_long": {
        "it": "Periodo troppo lungo: al massimo {days} giorni.",
        "en": "The period is too long: {days} days at most.",
    },
    "records_unavailable": {
        "it": "Il database delle chiamate non risponde: riprova tra poco.",
        "en": "The call database does not answer: try again shortly.",
    },
    "figures": {"it": "Dati per ufficio", "en": "Figures by department"},
    "calls": {"it": "Chiamate", "en": "Calls"},
    "served_pct": {"it": "Servite", "en": "Served"},
    "queued": {"it": "In coda", "en": "Queued"},
    "answered_pct": {"it": "Risposte", "en": "Answered"},
    "abandoned_pct": {"it": "Abbandonate", "en": "Abandoned"},
    "avg_wait": {"it": "Attesa media", "en": "Average wait"},
    "within_20_pct": {"it": "Risposte entro 20 s", "en": "Answered within 20 s"},
    "callbacks": {"it": "Richiamate", "en": "Callbacks"},
    "ivr_only": {"it": "solo risponditore", "en": "IVR only"},
    "targets": {"it": "Obiettivi", "en": "Targets"},
    "target": {"it": "Obiettivo", "en": "Target"},
    "result": {"it": "Esito", "en": "Result"},
    "target_met": {"it": "raggiunto", "en": "met"},
    "target_missed": {"it": "MANCATO", "en": "MISSED"},
    "departments_missing": {"it": "Uffici che lo mancano", "en": "Departments missing it"},
    "service_levels_hint": {
        "it": "Servite: risposte da un operatore o risolte dal risponditore, su tutte le chiamate. "
        "Risposte, abbandonate ed entro 20 s: sulle chiamate messe in coda. Attesa media: sulle "
        "chiamate risposte. «-»: niente da misurare, non conta come obiettivo mancato.",
        "en": "Served: answered by an operator or self-served by the IVR, over all calls. "
        "Answered, abandoned and within 20 s: over the calls queued. Average wait: over the "
        'answered calls. "-": nothing to measure, never counted as a miss.',
    },
    # The service levels page's plots (ivr/admin/charts.py)
    "charts": {"it": "Grafici", "en": "Plots"},
    "chart_no_calls": {
        "it": "Nessuna chiamata in questo periodo",
        "en": "No calls in this period",
    },
    "chart_no_answered": {
        "it": "Nessuna chiamata risposta da un operatore in questo periodo",
        "en": "No call answered by an operator in this period",
    },
    "chart_nothing_queued": {
        "it": "Nessuna chiamata messa in coda in questo periodo",
        "en": "No call queued for an operator in this period",
    },
    "chart_hours_title": {
        "it": "Chiamate e quota di risposte per ora del giorno",
        "en": "Calls and answered share per hour of the day",
    },
    "chart_hours_desc": {
        "it": "{calls} chiamate; l'ora con più chiamate è le {hour} ({busiest}); "
        "risposte {answered} delle chiamate in coda.",
        "en": "{calls} calls; the busiest hour is {hour} ({busiest} calls); "
        "{answered} of the queued calls answered.",
    },
    "chart_hour_axis": {"it": "Ora del giorno", "en": "Hour of the day"},
    "chart_answered_share": {"it": "Risposte (sulle code)", "en": "Answered (of queued)"},
    "chart_hour_bar": {
        "it": "{span}: {calls} chiamate, risposte {answered}",
        "en": "{span}: {calls} calls, {answered} answered",
    },
    "chart_hour_point": {
        "it": "{span}: risposte {answered} di {offered} in coda",
        "en": "{span}: {answered} answered of {offered} queued",
    },
    "chart_waits_title": {
        "it": "Attesa prima della risposta di un operatore",
        "en": "Wait before an operator answered",
    },
    "chart_waits_desc": {
        "it": "{answered} chiamate risposte: {within} entro 20 s, {over150} dopo oltre 150 s, "
        "{over240} dopo oltre 240 s; attesa media {average}.",
        "en": "{answered} answered calls: {within} within 20 s, {over150} after more than "
        "150 s, {over240} after more than 240 s; average wait {average}.",
    },
    "chart_wait_axis": {"it": "Attesa in coda (secondi)", "en": "Wait in queue (seconds)"},
    "chart_wait_bar": {"it": "{span}: {calls} chiamate", "en": "{span}: {calls} calls"},
    "chart_average": {"it": "media {average}", "en": "average {average}"},
    "chart_days_title": {
        "it": "Livello di servizio giorno per giorno",
        "en": "Service level day by day",
    },
    "chart_days_desc": {
        "it": "{days} giorni con chiamate in coda: risposte almeno l'80% in {answered_met}, "
        "entro 20 s almeno il 40% in {within_met}.",
        "en": "{days} days with queued calls: at least 80% answered on {answered_met}, "
        "at least 40% within 20 s on {within_met}.",
    },
    "chart_day_axis": {"it": "Giorno", "en": "Day"},
    "chart_share_axis": {"it": "Chiamate in coda", "en": "Queued calls"},
    "chart_day_point": {
        "it": "{day}: risposte {answered}, entro 20 s {within}, su {offered} in coda",
        "en": "{day}: {answered} answered, {within} within 20 s, of {offered} queued",
    },
    # The targets' own wording (ivr.kpi.report.TARGETS' ``what``) is the key.
    "average wait to an operator": {
        "it": "attesa media per un operatore",
        "en": "average wait to an operator",
    },
    "answered within 20 s": {"it": "risposte entro 20 s", "en": "answered within 20 s"},
    "service level (answered)": {
        "it": "livello di servizio (risposte)",
        "en": "service level (answered)",
    },
    "abandoned in queue": {"it": "abbandoni in coda", "en": "abandoned in queue"},
    "role": {"it": "Ruolo", "en": "Role"},
    "active": {"it": "Attivo", "en": "Active"},
    "new_password": {"it": "Nuova password", "en": "New password"},
    "add_user": {"it": "Nuovo utente", "en": "New user"},
    "cannot_demote_self": {
        "it": "Non puoi togliere a te stesso il ruolo di amministratore.",
        "en": "You cannot remove your own administrator role.",
    },
    "draft_changed_meanwhile": {
        "it": "Qualcuno ha cambiato la bozza nel frattempo: rivedila e riprova.",
        "en": "Someone changed the draft meanwhile: review it and try again.",
    },
    "before_after": {"it": "Prima e dopo", "en": "Before and after"},
    # The Operators page (ivr/admin/views/operators.py)
    "nav_operators": {"it": "Operatori", "en": "Operators"},
    "op_extension": {"it": "Interno", "en": "Extension"},
    "op_name": {"it": "Nome", "en": "Name"},
    "op_languages": {"it": "Lingue parlate", "en": "Languages spoken"},
    "op_departments": {"it": "Uffici serviti (priorità)", "en": "Departments (priority)"},
    "op_departments_hint": {
        "it": "1 = primo ufficio dell'operatore; vuoto: non lo serve.",
        "en": "1 = the operator's first department; empty: not served.",
    },
    "op_not_served": {"it": "—", "en": "—"},
    "op_desk_user": {"it": "Utente della scrivania", "en": "Desk user"},
    "op_no_desk": {"it": "nessuno (solo telefono)", "en": "none (phone only)"},
    "op_enabled": {"it": "Abilitato", "en": "Enabled"},
    "op_tls": {
        "it": "Fuori dalla rete del Comune (TLS + SRTP)",
        "en": "Off the city's network (TLS + SRTP)",
    },
    "op_secret_set": {"it": "Segreto impostato", "en": "Secret set"},
    "op_edit": {"it": "Modifica", "en": "Edit"},
    "op_enable": {"it": "Abilita", "en": "Enable"},
    "op_disable": {"it": "Disabilita", "en": "Disable"},
    "op_rotate": {"it": "Nuovo segreto SIP", "en": "New SIP secret"},
    "op_rotate_hint": {
        "it": "Il segreto attuale smette di funzionare appena il nuovo è in linea.",
        "en": "The current secret stops working as soon as the new one is live.",
    },
    "op_none": {"it": "Nessun operatore.", "en": "No operators."},
    "op_apply_again": {
        "it": "Riapplica gli account ad Asterisk",
        "en": "Apply the accounts to Asterisk again",
    },
    "op_add": {"it": "Nuovo operatore", "en": "New operator"},
    "op_secret": {"it": "Segreto SIP", "en": "SIP secret"},
    "op_secret_once": {
        "it": "Copialo ora nel telefono dell'operatore: non verrà più mostrato.",
        "en": "Copy it into the operator's phone now: it will not be shown again.",
    },
    "op_sip_user": {"it": "Utente SIP", "en": "SIP user"},
    "op_done": {"it": "Fatto, torna agli operatori", "en": "Done, back to the operators"},
    "op_remove": {"it": "Elimina l'operatore", "en": "Remove the operator"},
    "op_remove_sure": {
        "it": "Sì, elimina l'interno {ext}",
        "en": "Yes, remove extension {ext}",
    },
    "operator_remove_confirm": {
        "it": "Spunta la conferma per eliminare l'operatore.",
        "en": "Tick the confirmation to remove the operator.",
    },
    "operators_live": {
        "it": "Asterisk ha confermato: {message}",
        "en": "Asterisk confirmed: {message}",
    },
    "operators_not_live": {
        "it": "Salvato, ma non in linea: {message}",
        "en": "Saved, but not live: {message}",
    },
    "yes": {"it": "sì", "en": "yes"},
    "no": {"it": "no", "en": "no"},
    # Per-operator figures on the service levels page (admins)
    "per_operator": {"it": "Per operatore", "en": "Per operator"},
    "calls_handled": {"it": "Chiamate gestite", "en": "Calls handled"},
    "avg_handling": {"it": "Durata media di gestione", "en": "Average handling time"},
    "avg_wrapup": {"it": "Chiusura media (post-chiamata)", "en": "Average wrap-up time"},
    "pause_time": {"it": "Pause per motivo", "en": "Pauses by reason"},
    "no_operator_activity": {
        "it": "Nessuna attività degli operatori nel periodo.",
        "en": "No operator activity in the period.",
    },
    "pause_break": {"it": "pausa", "en": "break"},
    "pause_backoffice": {"it": "back office", "en": "back office"},
    "pause_training": {"it": "formazione", "en": "training"},
    "pause_-": {"it": "senza motivo", "en": "no reason given"},
}


def translate(lang: str, key: str, /, **kw: Any) -> str:
    entry = TEXTS.get(key)
    if entry is None:
        return key
    text = entry.get(lang) or entry.get("en") or key
    return text.format(**kw) if kw else text
