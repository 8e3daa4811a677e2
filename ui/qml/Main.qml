// The main window: top bar (model, load progress, device badge), sidebar of conversations, the
// chat or the model library, and the window-wide pieces: drop a model anywhere, the model card,
// error and settings dialogs, keyboard shortcuts. Data comes from `app` (AppController).
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs
import Nibble.Bridge

ApplicationWindow {
    id: window
    // The last size is kept in the settings (UI state), in device-independent pixels.
    width: settings ? Number(settings.value("window/width", 1180)) : 1180
    height: settings ? Number(settings.value("window/height", 760)) : 760
    minimumWidth: 720
    minimumHeight: 480
    visible: true
    onClosing: if (settings) { settings.setValue("window/width", width); settings.setValue("window/height", height) }
    title: app && app.modelName.length > 0 ? qsTr("Nibble — %1").arg(app.modelName) : qsTr("Nibble")

    // The theme's colours on the window, per colour group: every control below inherits them.
    readonly property var colors: app ? app.theme.colors : null
    palette.active.window: colors ? colors.window : undefined
    palette.active.windowText: colors ? colors.windowText : undefined
    palette.active.base: colors ? colors.base : undefined
    palette.active.alternateBase: colors ? colors.alternateBase : undefined
    palette.active.text: colors ? colors.text : undefined
    palette.active.placeholderText: colors ? colors.placeholderText : undefined
    palette.active.button: colors ? colors.button : undefined
    palette.active.buttonText: colors ? colors.buttonText : undefined
    palette.active.brightText: colors ? colors.brightText : undefined
    palette.active.highlight: colors ? colors.highlight : undefined
    palette.active.highlightedText: colors ? colors.highlightedText : undefined
    palette.active.link: colors ? colors.link : undefined
    palette.active.toolTipBase: colors ? colors.toolTipBase : undefined
    palette.active.toolTipText: colors ? colors.toolTipText : undefined
    palette.active.light: colors ? colors.light : undefined
    palette.active.midlight: colors ? colors.midlight : undefined
    palette.active.mid: colors ? colors.mid : undefined
    palette.active.dark: colors ? colors.dark : undefined
    palette.active.shadow: colors ? colors.shadow : undefined
    palette.inactive.window: colors ? colors.window : undefined
    palette.inactive.windowText: colors ? colors.windowText : undefined
    palette.inactive.base: colors ? colors.base : undefined
    palette.inactive.alternateBase: colors ? colors.alternateBase : undefined
    palette.inactive.text: colors ? colors.text : undefined
    palette.inactive.placeholderText: colors ? colors.placeholderText : undefined
    palette.inactive.button: colors ? colors.button : undefined
    palette.inactive.buttonText: colors ? colors.buttonText : undefined
    palette.inactive.brightText: colors ? colors.brightText : undefined
    palette.inactive.highlight: colors ? colors.highlight : undefined
    palette.inactive.highlightedText: colors ? colors.highlightedText : undefined
    palette.inactive.link: colors ? colors.link : undefined
    palette.inactive.toolTipBase: colors ? colors.toolTipBase : undefined
    palette.inactive.toolTipText: colors ? colors.toolTipText : undefined
    palette.inactive.light: colors ? colors.light : undefined
    palette.inactive.midlight: colors ? colors.midlight : undefined
    palette.inactive.mid: colors ? colors.mid : undefined
    palette.inactive.dark: colors ? colors.dark : undefined
    palette.inactive.shadow: colors ? colors.shadow : undefined
    palette.disabled.window: colors ? colors.window : undefined
    palette.disabled.windowText: colors ? colors.disabledWindowText : undefined
    palette.disabled.base: colors ? colors.base : undefined
    palette.disabled.alternateBase: colors ? colors.alternateBase : undefined
    palette.disabled.text: colors ? colors.disabledText : undefined
    palette.disabled.placeholderText: colors ? colors.placeholderText : undefined
    palette.disabled.button: colors ? colors.button : undefined
    palette.disabled.buttonText: colors ? colors.disabledButtonText : undefined
    palette.disabled.brightText: colors ? colors.brightText : undefined
    palette.disabled.highlight: colors ? colors.highlight : undefined
    palette.disabled.highlightedText: colors ? colors.highlightedText : undefined
    palette.disabled.link: colors ? colors.link : undefined
    palette.disabled.toolTipBase: colors ? colors.toolTipBase : undefined
    palette.disabled.toolTipText: colors ? colors.toolTipText : undefined
    palette.disabled.light: colors ? colors.light : undefined
    palette.disabled.midlight: colors ? colors.midlight : undefined
    palette.disabled.mid: colors ? colors.mid : undefined
    palette.disabled.dark: colors ? colors.dark : undefined
    palette.disabled.shadow: colors ? colors.shadow : undefined

    readonly property var engine: app ? app.engine : null
    readonly property var chat: app ? app.chat : null
    readonly property var settings: app ? app.settings : null
    // 0: chat, 1: model library, 2: dashboard
    property int page: 0

    function openModelPath(path) {
        if (!app || !path) return
        app.inspector.inspect(path)
    }

    function showError(error) {
        if (error && error.kind !== ErrorKinds.None && error.kind !== ErrorKinds.Cancelled)
            errorDialog.show(error)
    }

    header: TopBar {
        engine: window.engine
        appController: app
        sidebarVisible: window.settings ? window.settings.sidebarVisible : true
        onToggleSidebar: if (window.settings) window.settings.sidebarVisible = !window.settings.sidebarVisible
        onShowLibrary: window.page = window.page === 1 ? 0 : 1
        onShowDashboard: window.page = window.page === 2 ? 0 : 2
        onShowSettings: settingsDialog.open()
        onOpenModel: openDialog.open()
        onShowQuantizer: if (app && app.quantizer) app.quantizer.active = true
    }

    RowLayout {
        anchors.fill: parent
        spacing: 0

        Sidebar {
            id: sidebar
            visible: window.settings ? window.settings.sidebarVisible : true
            Layout.fillHeight: true
            Layout.preferredWidth: Math.round(fm.height * 15)
            conversations: app ? app.conversations : null
            chat: window.chat
            onConversationChosen: window.page = 0
        }

        StackLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            currentIndex: window.page

            ChatView {
                id: chatView
                chat: window.chat
                engine: window.engine
                presets: app ? app.presets : null
                theme: app ? app.theme : null
                onOpenModelRequested: openDialog.open()
            }

            LibraryPage {
                library: app ? app.library : null
                settings: window.settings
                engine: window.engine
                onLoadRequested: (path) => window.openModelPath(path)
                onCloseRequested: window.page = 0
            }

            // Loaded only while shown: its chart and 1 Hz polling cost nothing otherwise.
            Loader {
                active: window.page === 2
                sourceComponent: DashboardPage {
                    objectName: "dashboardPage"
                    dashboard: app ? app.dashboard : null
                    onCloseRequested: window.page = 0
                }
            }
        }
    }

    FontMetrics { id: fm }

    DropArea {
        id: drop
        anchors.fill: parent
        keys: ["text/uri-list"]
        onDropped: (event) => {
            if (event.hasUrls && event.urls.length > 0) {
                window.openModelPath(event.urls[0].toString())
                event.acceptProposedAction()
            }
        }
    }

    DropOverlay {
        anchors.fill: parent
        visible: drop.containsDrag
    }

    ModelCardDialog {
        id: modelCard
        objectName: "modelCard"
        inspector: app ? app.inspector : null
        settings: window.settings
        engine: window.engine
        appController: app
    }

    ErrorDialog {
        id: errorDialog
        objectName: "errorDialog"
    }

    QuantizeWizardDialog {
        wizard: app ? app.quantizer : null
        engine: window.engine
    }

    SettingsDialog {
        id: settingsDialog
        objectName: "settingsDialog"
        appController: app
    }

    FolderDialog {
        id: openDialog
        title: qsTr("Open a model folder")
        currentFolder: window.settings ? "file://" + window.settings.defaultModelFolder : ""
        onAccepted: window.openModelPath(selectedFolder.toString())
    }

    Connections {
        target: app ? app.inspector : null
        function onCardReady() { modelCard.open() }
        function onInspectFailed() { window.showError(app.inspector.error) }
    }
    Connections {
        target: window.engine
        function onLoadFailed() { window.showError(window.engine.lastError) }
    }
    Connections {
        target: window.chat
        function onLastErrorChanged() { window.showError(window.chat.lastError) }
    }

    Shortcut {
        sequences: ["Ctrl+N"]
        onActivated: { window.chat.newChat(); window.page = 0; chatView.focusComposer() }
    }
    Shortcut {
        sequences: ["Ctrl+K"]
        onActivated: { if (window.settings) window.settings.sidebarVisible = true; sidebar.focusSearch() }
    }
    Shortcut {
        sequences: ["Esc"]
        enabled: window.chat ? window.chat.busy : false
        onActivated: window.chat.stop()
    }
    Shortcut {
        sequences: ["Ctrl+Shift+R"]
        onActivated: window.chat.regenerate(-1)
    }
    Shortcut {
        sequences: ["Ctrl+,"]
        onActivated: settingsDialog.open()
    }
    Shortcut {
        sequences: ["Ctrl+O"]
        onActivated: openDialog.open()
    }
}
